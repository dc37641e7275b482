"""Search by content, deep links, keyboard habits and the offline banner (issue 23)."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from shared import transitions
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.registry import Registry
from shared.submit import submit
from tests.api.dashboard.conftest import ADMIN_TOKEN, Stack, login, shot, toast


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
