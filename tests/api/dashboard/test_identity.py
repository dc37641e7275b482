"""Keys, the Audit view, a queue-scoped person's dashboard, and single sign-on, in Chromium
(issue 22)."""

from __future__ import annotations

import dataclasses
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from playwright.sync_api import Browser, Page, expect

from shared import keys
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.config import Settings
from shared.face_jobs import FACE_QUEUE
from tests.api.dashboard.conftest import ADMIN_TOKEN, Stack, login, running_stack, shot
from tests.oidc import CLIENT_ID, Provider, oidc_provider  # noqa: F401 (fixture)


def _api(stack: Stack, method: str, path: str, token: str, body: object = None) -> dict[str, object]:
    request = urllib.request.Request(
        f"{stack.url}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, object] = json.loads(response.read() or b"null")
        return answer


def test_an_admin_creates_a_key_sees_its_secret_once_and_revokes_it(
    page: Page, stack: Stack, raw: redis.Redis
) -> None:
    login(page)
    page.click('#nav a[data-view="keys"]')
    # When the admin creates an operator key for the diagnostics queue
    page.fill('.key-form input[name="name"]', "ci-robot")
    page.select_option('.key-form select[name="role"]', "operator")
    page.fill('.key-form input[name="queues"]', Q)
    page.click(".key-form button[type=submit]")
    # Then its secret is shown, once, and the key is listed without it
    secret = page.locator("[data-secret-value]")
    expect(secret).to_have_text(re.compile(r"^fq_[0-9a-f]{16}_"))
    value = secret.inner_text()
    row = page.locator("table.keys tr", has_text="ci-robot")
    expect(row).to_contain_text("operator")
    expect(row).to_contain_text(Q)
    shot(page, "keys")
    assert value not in str(raw.hgetall(keys.api_key_key(value[3:19])))
    # And the key works on the API
    assert _api(stack, "GET", "/api/v1/session", value)["name"] == "ci-robot"
    page.click(".secret button:has-text('Done')")
    expect(page.locator("[data-secret-value]")).to_have_count(0)
    page.reload()
    page.click('#nav a[data-view="keys"]')
    expect(page.locator("table.keys tr", has_text="ci-robot")).to_be_visible()
    assert value not in page.content()
    # When the admin revokes it, Then the row says so and the key no longer works
    page.locator("table.keys tr", has_text="ci-robot").locator("button", has_text="Revoke").click()
    page.click("#confirm-ok")
    expect(page.locator("table.keys tr", has_text="ci-robot")).to_contain_text("revoked")
    with pytest.raises(urllib.error.HTTPError) as refused:
        _api(stack, "GET", "/api/v1/queues", value)
    assert refused.value.code == 401
    refused.value.close()


def test_the_audit_view_names_who_filters_and_is_live(page: Page, stack: Stack) -> None:
    # Given an operator key that paused the queue
    created = _api(stack, "POST", "/api/v1/keys", ADMIN_TOKEN, {"name": "lin", "role": "operator"})
    secret = str(created["secret"])
    _api(stack, "POST", f"/api/v1/queues/{Q}/pause", secret)
    login(page)
    page.click('#nav a[data-view="audit"]')
    table = page.locator("table.audit")
    expect(table.locator('tr[data-action="pause"]')).to_contain_text("lin")
    expect(table.locator('tr[data-action="pause"]')).to_contain_text("operator")
    expect(table.locator('tr[data-action="create_key"]')).to_contain_text("FQ_ADMIN_TOKEN")
    # When it resumes the queue, Then the entry appears live, naming the key
    _api(stack, "POST", f"/api/v1/queues/{Q}/resume", secret)
    expect(table.locator('tr[data-action="resume"]')).to_contain_text("lin")
    # And filtering by person shows only that person's entries
    page.fill('.audit-filters input[name="person"]', "lin")
    page.click(".audit-filters button[type=submit]")
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table.locator('tr[data-action="create_key"]')).to_have_count(0)
    shot(page, "audit")


def test_the_audit_view_filters_by_action_and_queue_and_live_entries_follow_the_filters(
    page: Page, stack: Stack
) -> None:
    # Given both queues paused by the admin
    _api(stack, "POST", f"/api/v1/queues/{Q}/pause", ADMIN_TOKEN)
    _api(stack, "POST", f"/api/v1/queues/{FACE_QUEUE}/pause", ADMIN_TOKEN)
    login(page)
    page.click('#nav a[data-view="audit"]')
    rows = page.locator("table.audit tbody tr")
    expect(rows.first).to_be_visible()
    # When filtered by action, Then only the two pauses are listed
    page.fill('.audit-filters input[name="action"]', "pause")
    page.click(".audit-filters button[type=submit]")
    expect(rows).to_have_count(2)
    expect(page.locator('table.audit tr[data-action="pause"]')).to_have_count(2)
    # When filtered by queue too, Then only that queue's pause is
    page.fill('.audit-filters input[name="queue"]', Q)
    page.click(".audit-filters button[type=submit]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(Q)
    expect(rows.first).not_to_contain_text(FACE_QUEUE)
    # When entries arrive live: another action on the queue, the same action on the other queue,
    # then one that matches both filters
    _api(stack, "POST", f"/api/v1/queues/{Q}/resume", ADMIN_TOKEN)
    _api(stack, "POST", f"/api/v1/queues/{FACE_QUEUE}/resume", ADMIN_TOKEN)
    _api(stack, "POST", f"/api/v1/queues/{FACE_QUEUE}/pause", ADMIN_TOKEN)
    _api(stack, "POST", f"/api/v1/queues/{Q}/pause", ADMIN_TOKEN)
    # Then only the matching one is added (events come in order: the others were seen and left out)
    expect(rows).to_have_count(2)
    for i in range(2):
        expect(rows.nth(i)).to_have_attribute("data-action", "pause")
        expect(rows.nth(i)).to_contain_text(Q)
        expect(rows.nth(i)).not_to_contain_text(FACE_QUEUE)
    # And clearing the queue filter lists both queues' pauses again
    page.fill('.audit-filters input[name="queue"]', "")
    page.click(".audit-filters button[type=submit]")
    expect(rows).to_have_count(4)
    expect(page.locator("table.audit tbody")).to_contain_text(FACE_QUEUE)


def test_a_queue_scoped_operator_sees_only_their_queues_and_pauses_theirs(page: Page, stack: Stack) -> None:
    spec = {"name": "faces", "role": "operator", "queues": [FACE_QUEUE]}
    created = _api(stack, "POST", "/api/v1/keys", ADMIN_TOKEN, spec)
    login(page, str(created["secret"]))
    expect(page.locator("#person")).to_have_text(f"faces · {FACE_QUEUE}")
    expect(page.locator("#who")).to_have_text("operator")
    card = page.locator(f'[data-queue="{FACE_QUEUE}"]').first
    expect(card).to_be_visible()
    expect(page.locator(f'[data-queue="{Q}"]')).to_have_count(0)
    expect(page.locator('#nav a[data-view="keys"]')).to_have_count(0)
    # An operator may pause its own queue from the overview
    card.locator('[data-action="pause"]').click()
    expect(card.locator(".badge.paused")).to_be_visible()


@pytest.fixture
def sso_stack(
    settings: Settings,
    tmp_path: Path,
    oidc_provider: Provider,  # noqa: F811
) -> Iterator[Stack]:
    configured = dataclasses.replace(
        settings,
        oidc_issuer=oidc_provider.url,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret="a-client-secret-of-the-tests",
        sso_group_roles=("fq-ops:operator", "fq-admins:admin"),
        sso_group_queues=("team-diag:" + Q,),
    )
    with running_stack(configured, tmp_path) as running:
        yield running


def test_a_person_signs_in_through_the_provider_in_the_browser_and_logs_out(
    browser: Browser,
    sso_stack: Stack,
    oidc_provider: Provider,  # noqa: F811
) -> None:
    oidc_provider.set_person("ada", email="ada@example.com", groups=["fq-ops", "team-diag"])
    context = browser.new_context(base_url=sso_stack.url)
    page = context.new_page()
    try:
        page.goto("/")
        # When Ada chooses single sign-on and authorises at the provider
        page.click("#sso-login")
        page.wait_for_url(f"{oidc_provider.url}/**")
        page.fill('input[name="sub"]', "ada")
        page.click('button[type="submit"]:has-text("Authorize")')
        # Then she is back on the dashboard, by name, with her group's role and queue
        expect(page.locator("#person")).to_have_text(f"ada@example.com · {Q}")
        expect(page.locator("#who")).to_have_text("operator")
        expect(page.locator("#conn")).to_have_attribute("data-state", "live")
        expect(page.locator('#nav a[data-view="keys"]')).to_have_count(0)
        shot(page, "sso-signed-in")
        # When she logs out, Then the login page is back and the session is gone
        page.click("#logout")
        expect(page.locator("#view-login")).to_be_visible()
        assert page.evaluate("fetch('/api/v1/queues').then(r => r.status)") == 401
    finally:
        context.close()
