"""Every view passes axe-core (no serious or critical violations) in light and dark, and works
at 390 px wide (issue 23); screenshots of each land in tests/artifacts/ for a person to look at.

The views are the router's, read from the page (its nav holds one link per registered view the
person may see; an admin sees them all), so a view added later is checked without touching this
file. The open job drawer and the confirm dialog are checked too."""

from __future__ import annotations

from typing import Literal

import pytest
from playwright.sync_api import Browser, Page, expect

from shared import galleries
from shared.registry import Registry
from shared.submit import submit
from tests.api.dashboard.conftest import ADMIN_TOKEN, ARTIFACTS, Stack, axe_violations

#: Params that give a view something to show (the rest are shown as they open).
PARAMS = {"galleries": "?gallery=staff"}
#: Views every admin has at least (a floor: the list itself comes from the page).
AT_LEAST = {
    "overview",
    "jobs",
    "workers",
    "galleries",
    "schedules",
    "operations",
    "failures",
    "audit",
    "keys",
    "submit",
}


def check(page: Page, axe_source: str, what: str, width: int, shot: str) -> None:
    """axe finds nothing serious or critical, nothing is wider than the window; a screenshot."""
    assert axe_violations(page, axe_source) == [], what
    wide = page.evaluate("() => document.documentElement.scrollWidth")
    assert wide <= width + 1, f"{what} is {wide} px wide at {width} px"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"a11y-{shot}.png"), full_page=True)


@pytest.mark.parametrize(
    ("scheme", "width"), [("light", 1280), ("dark", 1280), ("light", 390), ("dark", 390)]
)
def test_every_view_passes_axe_and_fits_the_width(
    browser: Browser,
    stack: Stack,
    registry: Registry,
    axe_source: str,
    scheme: Literal["light", "dark"],
    width: int,
) -> None:
    # Given some jobs, a delayed one and a gallery with one identity
    job_id = submit(registry, "noop")
    submit(registry, "sleep", [1], delay_ms=60_000)
    identity = galleries.Identity(id="0a", name="Ada", job="0a", box=[1, 2, 3, 4])
    registry.run(galleries.enroll("staff", identity, b"\0" * galleries.EMBEDDING_BYTES))
    context = browser.new_context(
        base_url=stack.url, viewport={"width": width, "height": 900}, color_scheme=scheme
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    tag = f"{scheme}-{width}"
    try:
        page.goto("/")
        expect(page.locator("#view-login")).to_be_visible()
        check(page, axe_source, f"login ({tag})", width, f"login-{tag}")
        page.fill("#login-token", ADMIN_TOKEN)
        page.click("#login-form button[type=submit]")
        expect(page.locator("#conn")).to_have_attribute("data-state", "live")
        # The router's views, as the page lists them (an admin may see every one)
        views: list[str] = page.eval_on_selector_all(
            "#nav a[data-view]", "links => links.map(a => a.dataset.view)"
        )
        assert set(views) >= AT_LEAST, views
        assert page.locator("section.view[id^='view-']:not(#view-login)").count() == len(views)
        for view in views:
            # When each view is shown
            page.goto(f"/#{view}{PARAMS.get(view, '')}")
            expect(page.locator(f"#view-{view}")).to_be_visible()
            if view == "overview":
                expect(page.locator("[data-chart='throughput']")).to_be_visible()
            if view == "jobs":
                expect(page.locator("tr[data-job]").first).to_be_visible()
            if view == "galleries":
                expect(page.locator("[data-identity='0a']")).to_be_visible()
            # Then axe finds nothing serious, and nothing is wider than the window
            check(page, axe_source, f"{view} ({tag})", width, f"{view}-{tag}")
        # And the open job drawer
        page.goto(f"/#jobs?job={job_id}")
        expect(page.locator("#drawer")).to_be_visible()
        check(page, axe_source, f"job drawer ({tag})", width, f"drawer-{tag}")
        page.keyboard.press("Escape")
        expect(page.locator("#drawer")).to_be_hidden()
        # And a confirm dialog (ending every session asks first)
        page.click("#end-sessions")
        expect(page.locator("#confirm")).to_be_visible()
        check(page, axe_source, f"confirm dialog ({tag})", width, f"confirm-{tag}")
        page.click("#confirm button[value=cancel]")
        expect(page.locator("#confirm")).to_be_hidden()
        # And the help dialog
        page.keyboard.press("?")
        expect(page.locator("dialog.help")).to_be_visible()
        assert axe_violations(page, axe_source) == [], f"help ({tag})"
    finally:
        context.close()
    assert errors == []
