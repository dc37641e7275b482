"""Search by content, deep links, keyboard habits and the offline banner (issue 23)."""

from __future__ import annotations

import json
import re
import urllib.request

from playwright.sync_api import Browser, Page, expect

from shared import transitions
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.registry import Registry
from shared.submit import submit
from tests.api.dashboard.conftest import ADMIN_TOKEN, Stack, login, shot, toast
from tests.api.test_operations import fail_jobs


def face(registry: Registry, gallery: str) -> str:
    return submit(registry, "face_search", [{"image": "ab" * 32, "gallery": gallery}], delay_ms=600_000)


def test_a_content_search_is_in_the_url_and_back_and_forward_walk_through_it(
    page: Page, registry: Registry
) -> None:
    # Given face searches in two galleries and some other jobs
    demo = [face(registry, "demo") for _ in range(3)]
    others = [face(registry, "other") for _ in range(2)]
    for _ in range(2):
        submit(registry, "noop")
    login(page)
    page.goto("/#jobs")
    expect(page.locator("tr[data-job]")).to_have_count(7)
    # When `/` focuses the search and a content search is typed
    page.keyboard.press("/")
    expect(page.locator("#view-jobs [data-search]")).to_be_focused()
    page.keyboard.type("gallery:demo")
    page.keyboard.press("Enter")
    # Then exactly the gallery's jobs are listed, the note says what was searched, the URL holds it
    expect(page.locator("tr[data-job]")).to_have_count(3)
    expect(page.locator("[data-search-note]")).to_contain_text("searched 3 of 3 (index on gallery)")
    assert "q=gallery%3Ademo" in page.url
    assert {page.locator("tr[data-job]").nth(i).get_attribute("data-job") for i in range(3)} == set(demo)
    shot(page, "jobs-search")
    # And back and forward walk between the full list and the search
    page.go_back()
    expect(page.locator("tr[data-job]")).to_have_count(7)
    expect(page.locator("#view-jobs [data-search]")).to_have_value("")
    page.go_forward()
    expect(page.locator("tr[data-job]")).to_have_count(3)
    # And a link with a search and an open drawer reproduces both in a fresh tab
    link = page.url.split("#")[0] + f"#jobs?q=gallery%3Aother&job={others[0]}"
    second = page.context.new_page()
    second.goto(link)
    expect(second.locator("tr[data-job]")).to_have_count(2)
    expect(second.locator("#drawer")).to_be_visible()
    expect(second.locator("#drawer h2")).to_have_text(others[0])
    # And Escape closes the drawer and takes it out of the URL
    second.keyboard.press("Escape")
    expect(second.locator("#drawer")).to_be_hidden()
    assert "job=" not in second.url
    second.close()
    # And a bad query gets the API's own words
    page.fill("#view-jobs [data-search]", "nosuch:field")
    page.keyboard.press("Enter")
    expect(page.locator("[data-search-note]")).to_contain_text("unknown field")


def test_keyboard_moves_opens_and_retries_and_times_are_relative_with_exact_on_hover(
    page: Page, registry: Registry
) -> None:
    # Given two failed jobs
    failed = []
    for _ in range(2):
        job_id = submit(registry, "noop")
        registry.run(transitions.dispatch(Q, 10))
        registry.run(transitions.start(job_id, Q, 0, "w"))
        registry.run(transitions.fail(job_id, Q, 0, "w", "ValueError: no", ""))
        failed.append(job_id)
    login(page)
    page.goto(f"/#jobs?queue={Q}&state=failed")
    expect(page.locator("tr[data-job]")).to_have_count(2)
    # Then created times read relative, with the exact time on hover
    created = page.locator("tr[data-job] time").first
    expect(created).to_have_text(re.compile(r"just now|ago"))
    assert created.get_attribute("title")
    # When j moves down twice and k back up, the marked row follows
    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    marked = page.locator("tr[data-job].marked")
    expect(marked).to_have_count(1)
    expect(marked).to_have_attribute("data-job", failed[1])  # newest first
    # And r retries the marked job
    page.keyboard.press("r")
    expect(toast(page, f"{failed[1]} retried")).to_be_visible()
    assert registry.get(failed[1]).state.value == "waiting"
    # And ? shows the shortcuts
    page.keyboard.press("?")
    expect(page.locator("dialog.help")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("dialog.help")).to_be_hidden()


def test_the_offline_banner_says_for_how_long(browser: Browser, stack: Stack) -> None:
    context = browser.new_context(base_url=stack.url)
    page = context.new_page()
    try:
        login(page, ADMIN_TOKEN)
        banner = page.locator("[data-offline]")
        expect(banner).to_be_hidden()
        # When the gateway goes away
        stack.stop_gateway()
        # Then the banner says how long live updates have been missing, counting up
        expect(banner).to_contain_text(re.compile(r"No live updates for [2-9] s"))
        expect(banner).to_contain_text(re.compile(r"No live updates for ([4-9]|\d\d) s"))
        shot(page, "offline-banner")
        # And it goes once the gateway is back
        stack.start_gateway()
        expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=30_000)
        expect(banner).to_be_hidden()
    finally:
        context.close()


def _post(stack: Stack, path: str, token: str, body: object = None) -> dict[str, object]:
    request = urllib.request.Request(
        f"{stack.url}{path}",
        data=json.dumps(body).encode() if body is not None else b"",
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, object] = json.loads(response.read() or b"null")
        return answer


def test_the_failures_queue_and_open_group_are_in_the_url(page: Page, registry: Registry) -> None:
    # Given failures of two causes
    fail_jobs(registry, 3, "fp-a", "KeyError")
    fail_jobs(registry, 2, "fp-b", "ValueError")
    login(page)
    page.goto("/#failures")
    expect(page.locator("tr[data-group]")).to_have_count(2)
    # Then the group's times read relative, with the exact time on hover
    seen = page.locator('tr[data-group="fp-a"] time').first
    expect(seen).to_have_text(re.compile(r"just now|ago"))
    assert seen.get_attribute("title")
    # When one group is opened, then the other
    jobs = page.locator(".group-job-list li")
    page.locator('tr[data-group="fp-a"] [data-group-action="jobs"]').click()
    expect(jobs).to_have_count(3)
    assert "group=fp-a" in page.url
    page.locator('tr[data-group="fp-b"] [data-group-action="jobs"]').click()
    expect(jobs).to_have_count(2)
    assert "group=fp-b" in page.url
    # Then back and forward walk through them
    page.go_back()
    expect(page.locator("[data-open-group]")).to_have_attribute("data-open-group", "fp-a")
    expect(jobs).to_have_count(3)
    page.go_back()
    expect(jobs).to_have_count(0)
    page.go_forward()
    expect(jobs).to_have_count(3)
    # And a link reproduces the queue and the open group in a fresh tab
    second = page.context.new_page()
    second.goto(page.url.split("#")[0] + f"#failures?queue={Q}&group=fp-b")
    expect(second.locator("#view-failures select[aria-label='queue']")).to_have_value(Q)
    expect(second.locator("[data-open-group]")).to_have_attribute("data-open-group", "fp-b")
    expect(second.locator(".group-job-list li")).to_have_count(2)
    # And closing the group takes it out of the URL
    second.click('[data-group-action="close"]')
    expect(second.locator(".group-job-list li")).to_have_count(0)
    assert "group=" not in second.url
    second.close()


def test_the_audit_filters_are_in_the_url(page: Page, stack: Stack) -> None:
    # Given an operator key that paused and resumed the queue
    secret = str(_post(stack, "/api/v1/keys", ADMIN_TOKEN, {"name": "lin", "role": "operator"})["secret"])
    _post(stack, f"/api/v1/queues/{Q}/pause", secret)
    _post(stack, f"/api/v1/queues/{Q}/resume", secret)
    login(page)
    page.goto("/#audit")
    rows = page.locator("table.audit tbody tr")
    expect(rows).to_have_count(3)  # create_key, pause, resume
    # Then times read relative, with the exact time on hover
    expect(rows.first.locator("time")).to_have_text(re.compile(r"just now|ago"))
    assert rows.first.locator("time").get_attribute("title")
    # When filtered by person and action
    page.fill('.audit-filters input[name="person"]', "lin")
    page.fill('.audit-filters input[name="action"]', "pause")
    page.click(".audit-filters button[type=submit]")
    expect(rows).to_have_count(1)
    assert "person=lin" in page.url and "action=pause" in page.url
    # And then by a time still to come (the URL holds it as an absolute UTC time)
    page.fill('.audit-filters input[name="since"]', "2999-01-01T00:00")
    page.click(".audit-filters button[type=submit]")
    expect(rows).to_have_count(0)
    assert re.search(r"since=2999-01-0[12]T[0-9%A.]+Z", page.url), page.url
    # Then back and forward walk through the filters, the form following
    page.go_back()
    expect(rows).to_have_count(1)
    expect(page.locator('.audit-filters input[name="since"]')).to_have_value("")
    page.go_back()
    expect(rows).to_have_count(3)
    expect(page.locator('.audit-filters input[name="person"]')).to_have_value("")
    page.go_forward()
    expect(rows).to_have_count(1)
    expect(page.locator('.audit-filters input[name="action"]')).to_have_value("pause")
    # And a link reproduces the filtered view in a fresh tab
    second = page.context.new_page()
    second.goto(page.url.split("#")[0] + f"#audit?person=lin&queue={Q}")
    expect(second.locator("table.audit tbody tr")).to_have_count(2)
    expect(second.locator('.audit-filters input[name="person"]')).to_have_value("lin")
    expect(second.locator('.audit-filters input[name="queue"]')).to_have_value(Q)
    second.close()


def test_the_jobs_page_and_cursor_in_the_url_are_restored(page: Page, registry: Registry) -> None:
    # Given more jobs than a page holds
    ids = [submit(registry, "noop") for _ in range(55)]
    login(page)
    page.goto(f"/#jobs?queue={Q}&state=waiting")
    rows = page.locator("tr[data-job]")
    expect(rows).to_have_count(50)
    # When the next page is shown
    page.click('[data-page="next"]')
    expect(rows).to_have_count(5)
    assert "page=2" in page.url and "cursor=" in page.url
    second_page = {rows.nth(i).get_attribute("data-job") for i in range(5)}
    assert second_page <= set(ids)
    # Then a link to it shows the same page in a fresh tab
    fresh = page.context.new_page()
    fresh.goto(page.url)
    expect(fresh.locator("tr[data-job]")).to_have_count(5)
    assert {fresh.locator("tr[data-job]").nth(i).get_attribute("data-job") for i in range(5)} == second_page
    expect(fresh.locator("#view-jobs")).to_contain_text("page 2")
    fresh.close()
    # And back returns to the first page, forward to the second
    page.go_back()
    expect(rows).to_have_count(50)
    page.go_forward()
    expect(rows).to_have_count(5)
