"""Every view passes axe-core (no serious or critical violations) in light and dark, and works
at 390 px wide (issue 23); screenshots of each land in tests/artifacts/ for a person to look at."""

from __future__ import annotations

from typing import Literal

import pytest
from playwright.sync_api import Browser, expect

from shared import galleries
from shared.registry import Registry
from shared.submit import submit
from tests.api.dashboard.conftest import ADMIN_TOKEN, ARTIFACTS, Stack, axe_violations

VIEWS = ("overview", "jobs", "workers", "galleries?gallery=staff", "submit")


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
    # Given some jobs, a failed one and a gallery with one identity
    submit(registry, "noop")
    submit(registry, "sleep", [1], delay_ms=60_000)
    identity = galleries.Identity(id="0a", name="Ada", job="0a", box=[1, 2, 3, 4])
    registry.run(galleries.enroll("staff", identity, b"\0" * galleries.EMBEDDING_BYTES))
    context = browser.new_context(
        base_url=stack.url, viewport={"width": width, "height": 900}, color_scheme=scheme
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto("/")
        expect(page.locator("#view-login")).to_be_visible()
        assert axe_violations(page, axe_source) == [], f"login ({scheme}, {width} px)"
        page.fill("#login-token", ADMIN_TOKEN)
        page.click("#login-form button[type=submit]")
        expect(page.locator("#conn")).to_have_attribute("data-state", "live")
        for view in VIEWS:
            # When each view is shown
            page.goto(f"/#{view}")
            name = view.split("?")[0]
            expect(page.locator(f"#view-{name}")).to_be_visible()
            if name == "overview":
                expect(page.locator("[data-chart='throughput']")).to_be_visible()
            if name == "jobs":
                expect(page.locator("tr[data-job]").first).to_be_visible()
            if name == "galleries":
                expect(page.locator("[data-identity='0a']")).to_be_visible()
            # Then axe finds nothing serious, and nothing is wider than the window
            assert axe_violations(page, axe_source) == [], f"{view} ({scheme}, {width} px)"
            wide = page.evaluate("() => document.documentElement.scrollWidth")
            assert wide <= width + 1, f"{view} is {wide} px wide at {width} px"
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"a11y-{name}-{scheme}-{width}.png"), full_page=True)
        # And the help dialog too
        page.keyboard.press("?")
        expect(page.locator("dialog.help")).to_be_visible()
        assert axe_violations(page, axe_source) == []
    finally:
        context.close()
    assert errors == []
