"""The views a person looks at: the drawer's live progress, workers, submit, and a phone's width."""

from __future__ import annotations

from collections.abc import Callable

import redis
from playwright.sync_api import Browser, Page, ViewportSize, expect

from shared import keys
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.registry import Registry
from shared.states import JobState
from shared.submit import submit
from tests import typed_redis
from tests.api.dashboard.conftest import Stack, count, login, shot
from tests.processes import WorkerGroup, wait_for

#: A phone's viewport (CSS pixels).
PHONE: ViewportSize = {"width": 390, "height": 844}


def _no_sideways_scroll(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_submit_then_watch_the_job_run_in_its_drawer(
    page: Page, stack: Stack, registry: Registry, start_worker: Callable[..., WorkerGroup]
) -> None:
    start_worker()
    login(page)
    page.click('#nav a[data-view="submit"]')
    page.select_option('select[name="actor"]', "sleep")
    page.fill('textarea[name="args"]', '{"seconds": 2}')
    shot(page, "submit")
    # When the admin submits a sleep job, its drawer opens on it
    page.click("form.submit button[type=submit]")
    drawer = page.locator("#drawer")
    expect(drawer).to_be_visible()
    job = drawer.locator("h2").inner_text()
    # Then the drawer follows it live: running with progress moving, then completed at 100%
    expect(drawer.locator("[data-drawer-state]")).to_have_text("active")
    bar = drawer.locator(".drawer-state progress")
    page.wait_for_function(
        "() => { const p = document.querySelector('#drawer .drawer-state progress');"
        " return p && p.value > 0 && p.value < 100; }"
    )
    shot(page, "drawer-running")
    expect(drawer.locator("[data-drawer-state]")).to_have_text("completed")
    expect(bar).to_have_attribute("value", "100")
    expect(drawer.locator("section", has_text="Result")).to_contain_text('"slept": 2')
    expect(drawer.locator(".timeline li")).to_have_count(3)  # created, started, completed
    assert registry.get(job).state is JobState.COMPLETED
    page.keyboard.press("Escape")
    expect(drawer).to_be_hidden()


def test_workers_view_and_every_view_fits_a_phone(
    page: Page, stack: Stack, registry: Registry, raw: redis.Redis, start_worker: Callable[..., WorkerGroup]
) -> None:
    start_worker()
    submit(registry, "noop")
    submit(registry, "fail", max_retries=0)
    submit(registry, "noop", delay_ms=600_000)
    wait_for(lambda: registry.counts([Q])[Q]["completed"] == 1, what="a completed job")
    login(page)
    expect(count(page, Q, "completed")).to_have_text("1")
    shot(page, "overview")
    page.click('#nav a[data-view="workers"]')
    row = page.locator("tr[data-worker]")
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-status", "alive")
    worker = typed_redis.zrange(raw, keys.WORKERS)[0]
    expect(row).to_have_attribute("data-worker", worker)
    expect(row.locator("td").nth(2)).to_have_text(typed_redis.hgetall(raw, keys.worker_key(worker))["pid"])
    expect(row).to_contain_text("1 \N{MULTIPLICATION SIGN} 1")  # processes x threads
    shot(page, "workers")
    # Removing a live worker from its row makes it drain (the page hears of it at once)
    row.locator('[data-action="remove-worker"]').click()
    expect(page.locator("#confirm-text")).to_contain_text(f"Ask worker {worker}")
    page.click("#confirm-ok")
    expect(page.locator(".toast.ok", has_text=f"{worker}: draining")).to_be_visible()
    expect(row).to_contain_text("draining")
    assert raw.hget(keys.worker_key(worker), "stop_requested") == "1"
    page.click('#nav a[data-view="jobs"]')
    expect(page.locator("tr[data-job]")).to_have_count(3)
    shot(page, "jobs")
    # At a phone's width every view is one column: nothing scrolls sideways but tables
    page.set_viewport_size(PHONE)
    for view in ("overview", "jobs", "workers", "submit", "audit", "keys"):
        page.goto(f"/#{view}")
        expect(page.locator(f"#view-{view}")).to_be_visible()
        assert _no_sideways_scroll(page), f"{view} is wider than a phone"
        shot(page, f"phone-{view}")


def test_dark_and_light_themes_follow_the_system_setting(browser: Browser, stack: Stack) -> None:
    backgrounds = {}
    for scheme in ("light", "dark"):
        context = browser.new_context(base_url=stack.url, color_scheme=scheme)
        try:
            page = context.new_page()
            login(page)
            backgrounds[scheme] = page.evaluate("getComputedStyle(document.body).backgroundColor")
            shot(page, f"overview-{scheme}")
        finally:
            context.close()
    assert backgrounds == {"light": "rgb(246, 247, 249)", "dark": "rgb(15, 18, 22)"}


def test_each_queue_shows_its_retention_and_a_change_arrives_live(
    page: Page, stack: Stack, registry: Registry
) -> None:
    from shared.retention import Retention, set_policy

    login(page)
    kept = page.locator('article.card.queue[data-queue="diagnostics"] [data-retention]')
    expect(kept).to_have_text("completed 1 d / 100,000 · failed 14 d / 100,000 (default)")
    # When an admin gives the queue its own policy, the card follows without a reload
    registry.run(set_policy("diagnostics", Retention(7200.0, 500, 86_400.0, 50), who="admin"))
    expect(kept).to_have_text("completed 2 h / 500 · failed 1 d / 50")
