"""The page stays current by itself: login, live counts, and the connection across gateway restarts."""

from __future__ import annotations

import json
import re
import urllib.request
from typing import cast

import redis
from playwright.sync_api import Page, expect

from shared import keys
from shared.auth import Role
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.registry import Registry
from shared.sessions import issue_login_code
from shared.submit import submit
from tests.api.dashboard.conftest import ADMIN_TOKEN, Stack, count, login, shot


def _gateway_metric(stack: Stack, name: str, labels: str) -> float:
    """One sample of the gateway's own metrics (0 when it has none yet)."""
    with urllib.request.urlopen(f"{stack.stream_url}/metrics", timeout=5) as response:
        text = response.read().decode()
    match = re.search(rf"^{name}\{{{re.escape(labels)}\}} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def _sse_clients(stack: Stack) -> float:
    return _gateway_metric(stack, "facequeue_stream_clients_connected", 'transport="sse"')


def _api_submit(stack: Stack, actor: str) -> str:
    request = urllib.request.Request(
        f"{stack.url}/api/v1/jobs",
        data=json.dumps({"actor": actor}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {ADMIN_TOKEN}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return str(json.loads(response.read())["id"])


def test_login_turns_a_token_into_a_session_and_a_live_dashboard(page: Page, stack: Stack) -> None:
    # Given the page without a session, it asks for a token
    page.goto("/")
    expect(page.locator("#view-login")).to_be_visible()
    shot(page, "login")
    # When a wrong token is given, the API's message is shown and nothing opens
    page.fill("#login-token", "not-a-token")
    page.click("#login-form button[type=submit]")
    expect(page.locator("#login-error")).to_have_text("unknown token")
    expect(page.locator("#nav")).to_be_hidden()
    # Then the admin token opens the dashboard, live, and the session survives a reload
    login(page)
    expect(page.locator("#who")).to_have_text("admin")
    expect(count(page, Q, "waiting")).to_have_text("0")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["fq_session"]["httpOnly"] is True
    page.reload()
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#view-login")).to_be_hidden()
    # And logging out ends the session and the stream
    page.click("#logout")
    expect(page.locator("#view-login")).to_be_visible()
    expect(page.locator("#conn")).to_have_attribute("data-state", "offline")
    assert "fq_session" not in {c["name"] for c in page.context.cookies()}


def test_a_one_time_link_logs_in_once_and_ending_every_session_logs_every_page_out(
    page: Page, stack: Stack, raw: redis.Redis
) -> None:
    # Given a link as `facequeue up` prints it
    code = issue_login_code(raw, stack.settings, Role.ADMIN)
    # When it is opened, Then the dashboard is live and the code is gone from the address bar
    page.goto(f"/#code={code}")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#who")).to_have_text("admin")
    assert code not in page.url
    # And the same link opened again (another browser) lands on the login form, saying why
    other = page.context.browser.new_context(base_url=stack.url)  # type: ignore[union-attr]
    second = other.new_page()
    second.goto(f"/#code={code}")
    expect(second.locator("#view-login")).to_be_visible()
    expect(second.locator("#login-error")).to_contain_text("no longer works")
    login(second)
    # When the admin ends every session from the page
    page.click("#end-sessions")
    expect(page.locator("#confirm-text")).to_contain_text("End every dashboard session")
    page.click("#confirm-ok")
    # Then this page and the other browser's both ask to log in again (the other's stream is cut)
    expect(page.locator("#view-login")).to_be_visible()
    expect(second.locator("#view-login")).to_be_visible()
    expect(second.locator("#login-error")).to_contain_text("session has ended")
    other.close()
    request = urllib.request.Request(
        f"{stack.url}/api/v1/audit", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        entry = json.loads(response.read())["entries"][0]
    assert (entry["action"], entry["count"], entry["address"]) == ("end_sessions", 2, "127.0.0.1")


def test_counts_change_within_a_second_of_a_job_submitted_elsewhere(
    page: Page, stack: Stack, registry: Registry
) -> None:
    login(page)
    page.evaluate("window.sameDocument = true")  # gone if anything reloaded the page
    waiting = count(page, Q, "waiting")
    delayed = count(page, Q, "delayed")
    expect(waiting).to_have_text("0")
    # When other clients submit jobs (through Redis, and through the API), no worker running
    for n in (1, 2, 3):
        if n == 2:
            _api_submit(stack, "noop")
        else:
            submit(registry, "noop")
        # Then each shows on screen within a second
        expect(waiting).to_have_text(str(n), timeout=1000)
    submit(registry, "noop", delay_ms=600_000)
    expect(delayed).to_have_text("1", timeout=1000)
    expect(page.locator('[data-total="waiting"] strong')).to_have_text("3")
    # And it was all one document, on one stream connection
    assert page.evaluate("window.sameDocument") is True
    assert _sse_clients(stack) == 1


def test_indicator_follows_the_gateway_down_and_back_and_counts_catch_up(
    page: Page, stack: Stack, registry: Registry
) -> None:
    login(page)
    page.evaluate("window.sameDocument = true")
    conn = page.locator("#conn")
    submit(registry, "noop")
    expect(count(page, Q, "waiting")).to_have_text("1")
    # When the gateway stops (SIGTERM: it drains its clients) and jobs arrive meanwhile
    stack.stop_gateway()
    expect(conn).to_have_attribute("data-state", "reconnecting")
    shot(page, "reconnecting")
    for _ in range(4):
        submit(registry, "noop")
    submit(registry, "noop", delay_ms=600_000)
    # Then a gateway on the same port brings the page back to live with the counts it missed
    stack.start_gateway()
    expect(conn).to_have_attribute("data-state", "live", timeout=20_000)
    expect(count(page, Q, "waiting")).to_have_text("5")
    expect(count(page, Q, "delayed")).to_have_text("1")
    # by resuming from its last event id (a replay of what it missed), not a fresh snapshot
    assert _gateway_metric(stack, "facequeue_stream_resumes_total", 'result="replayed"') == 1
    assert _sse_clients(stack) == 1
    # And the page keeps following events on the new connection
    submit(registry, "noop")
    expect(count(page, Q, "waiting")).to_have_text("6")
    assert page.evaluate("window.sameDocument") is True


def test_a_reset_after_redis_lost_its_data_redraws_from_the_fresh_snapshot(
    page: Page, stack: Stack, registry: Registry, raw: redis.Redis
) -> None:
    login(page)
    for _ in range(3):
        submit(registry, "noop")
    expect(count(page, Q, "waiting")).to_have_text("3")
    page.goto("/#jobs")
    expect(page.locator("tr[data-job]")).to_have_count(3)
    # When Redis loses every job and event (its seq starts over) and a new job arrives; the
    # session is spared here (losing it too would log the page out: sessions live in Redis)
    sessions = (keys.SESSIONS, keys.SESSIONS_EPOCH, keys.session_key(""))
    raw.delete(*[k for k in cast(list[str], raw.keys("*")) if not k.startswith(sessions)])
    job = submit(registry, "noop")
    # Then the gateway resets the page, which redraws counts and the jobs table without a reload
    expect(page.locator("tr[data-job]")).to_have_count(1)
    expect(page.locator(f'tr[data-job="{job}"]')).to_be_visible()
    page.goto("/#overview")
    expect(count(page, Q, "waiting")).to_have_text("1")
