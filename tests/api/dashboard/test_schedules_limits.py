"""Limits on the queue cards and the Schedules view, in Chromium (issue 21)."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from playwright.sync_api import Page, expect

from services.monitor.schedules import ScheduleFirer
from shared import keys, transitions
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.config import Settings
from shared.limits import Limits, set_limits
from shared.registry import AsyncRegistry, Registry
from shared.schedules import Schedule, save
from shared.submit import submit
from tests import typed_redis
from tests.api.dashboard.conftest import VIEWER_TOKEN, Stack, login, shot, toast


@pytest.fixture
def viewer(page: Page) -> Page:
    """The test's page (its own browser context), signed in as a viewer."""
    login(page, VIEWER_TOKEN)
    return page


def test_admin_sets_limits_from_the_card_and_the_card_shows_their_use(
    page: Page, stack: Stack, registry: Registry, raw: redis.Redis
) -> None:
    login(page)
    card = page.locator(f'[data-queue="{Q}"]')
    expect(card.locator("[data-limits]")).to_have_text("none")
    # When the admin sets 4 at once and 20 per second from the card's dialog
    card.locator('[data-action="limits"]').click()
    dialog = page.locator(f'[data-limits-dialog="{Q}"]')
    dialog.locator("input[name=concurrency]").fill("4")
    dialog.locator("input[name=rate_limit]").fill("20")
    # (a minute's window: the hand-outs below stay in it however late a loaded machine draws the
    # card; a 1 s window could roll past them first, and did)
    dialog.locator("input[name=rate_window_s]").fill("60")
    dialog.locator("button[type=submit]").click()
    expect(toast(page, f"{Q}: limits")).to_be_visible()
    # Then Redis holds them and the card shows their use
    assert typed_redis.hgetall(raw, keys.limits_key(Q)) == {
        "concurrency": "4",
        "rate_limit": "20",
        "rate_window_ms": "60000",
    }
    expect(card.locator("[data-limits]")).to_have_text("0/4 running · 0/20 per 60 s")
    # When jobs are handed out, the card follows
    for _ in range(5):
        submit(registry, "noop")
    registry.run(transitions.dispatch(Q, 3))
    expect(card.locator("[data-limits]")).to_have_text("3/4 running · 3/20 per 60 s")
    shot(page, "overview-limits")
    # A value the page lets through but the API refuses (a window beyond a day): its words, no change
    card.locator('[data-action="limits"]').click()
    dialog.locator("input[name=concurrency]").fill("2")
    dialog.locator("input[name=rate_window_s]").fill("1000000")
    dialog.locator("button[type=submit]").click()
    expect(toast(page, re.compile("Limits of .* failed"))).to_be_visible()
    expect(dialog.locator(".error")).to_contain_text("Not saved")
    assert raw.hget(keys.limits_key(Q), "concurrency") == "4"


def test_a_viewer_sees_limit_changes_live_and_cannot_edit(viewer: Page, registry: Registry) -> None:
    card = viewer.locator(f'[data-queue="{Q}"]')
    expect(card.locator("[data-limits]")).to_have_text("none")
    assert card.locator('[data-action="limits"]').count() == 0
    registry.run(set_limits(Q, Limits(concurrency=2), who="admin"))
    expect(card.locator("[data-limits]")).to_have_text("0/2 running")


def test_admin_creates_runs_pauses_and_deletes_a_schedule(page: Page, stack: Stack, raw: redis.Redis) -> None:
    login(page)
    page.click('#nav a[data-view="schedules"]')
    # A bad cron is refused in the dialog with the API's words
    page.click('[data-action="new-schedule"]')
    editor = page.locator("dialog.schedule-editor")
    editor.locator("input[name=name]").fill("every-5")
    editor.locator("input[name=cron]").fill("61 * * * *")
    editor.locator("input[name=timezone]").fill("Europe/Berlin")
    editor.locator("select[name=actor]").select_option("noop")
    editor.locator("textarea[name=args]").fill("[]")
    editor.locator("button[type=submit]").click()
    expect(editor.locator(".error")).to_contain_text("cron")
    # Fixed, it is created and listed with its next run
    editor.locator("input[name=cron]").fill("*/5 * * * *")
    editor.locator("button[type=submit]").click()
    row = page.locator('[data-schedule="every-5"]')
    expect(row).to_be_visible()
    expect(row.locator("[data-next]")).not_to_have_text("—")
    assert raw.hget(keys.schedule_key("every-5"), "timezone") == "Europe/Berlin"
    # Run now: a job is created and shown as its last job
    row.locator('[data-action="run"]').click()
    expect(toast(page, re.compile("every-5: job .* created"))).to_be_visible()
    expect(row.locator("[data-last-job]")).to_have_attribute("data-last-job", "waiting")
    # Pause: shown paused, and disabled in Redis
    row.locator('[data-action="pause"]').click()
    expect(row.locator(".badge.paused")).to_be_visible()
    assert raw.hget(keys.schedule_key("every-5"), "enabled") == "0"
    row.locator('[data-action="resume"]').click()
    expect(row).to_have_attribute("data-enabled", "true")
    shot(page, "schedules")
    # Delete, after confirming
    row.locator('[data-action="delete"]').click()
    page.click("#confirm-ok")
    expect(row).to_have_count(0)
    assert not raw.exists(keys.schedule_key("every-5"))


def test_admin_edits_a_schedule_and_sees_its_last_job_complete_live(
    page: Page, stack: Stack, registry: Registry, raw: redis.Redis
) -> None:
    # Given a schedule every 5 minutes, listed
    registry.run(
        save(Schedule("sweep", "*/5 * * * *", "noop", Q), registry.now_ms(), mode="create", who="admin")
    )
    login(page)
    page.click('#nav a[data-view="schedules"]')
    row = page.locator('[data-schedule="sweep"]')
    expect(row).to_contain_text("*/5 * * * *")
    # When the admin changes its cron in the edit dialog
    row.locator('[data-action="edit"]').click()
    editor = page.locator("dialog.schedule-editor")
    expect(editor.locator("input[name=cron]")).to_have_value("*/5 * * * *")
    editor.locator("input[name=cron]").fill("0 * * * *")
    editor.locator("button[type=submit]").click()
    # Then Redis holds the new cron (the rest unchanged) and the row shows it
    expect(editor).to_have_count(0)
    expect(row).to_contain_text("0 * * * *")
    stored = typed_redis.hgetall(raw, keys.schedule_key("sweep"))
    assert (stored["cron"], stored["actor"], stored["queue"], stored["enabled"]) == (
        "0 * * * *",
        "noop",
        Q,
        "1",
    )
    # When it is run now, its job is shown waiting; when a worker completes that job, the row
    # follows live
    row.locator('[data-action="run"]').click()
    expect(row.locator("[data-last-job]")).to_have_attribute("data-last-job", "waiting")
    job_id = typed_redis.hget(raw, keys.schedule_key("sweep"), "last_job")
    assert job_id
    assert registry.run(transitions.dispatch(Q, 1)).sent == 1
    assert registry.run(transitions.start(job_id, Q, registry.get(job_id).gen, "worker-a")) == "started"
    expect(row.locator("[data-last-job]")).to_have_attribute("data-last-job", "active")
    assert registry.run(transitions.complete(job_id, Q, registry.get(job_id).gen, "worker-a", "null"))
    expect(row.locator("[data-last-job]")).to_have_attribute("data-last-job", "completed")
    expect(row.locator("[data-last-job]")).to_have_text("completed")


def test_a_viewer_sees_schedules_live_without_controls(
    viewer: Page, registry: Registry, settings: Settings
) -> None:
    viewer.click('#nav a[data-view="schedules"]')
    expect(viewer.locator("#view-schedules .note")).to_have_text("No schedule yet.")
    registry.run(
        save(Schedule("nightly", "@daily", "noop", Q), registry.now_ms(), mode="create", who="admin")
    )
    row = viewer.locator('[data-schedule="nightly"]')
    expect(row).to_be_visible()
    assert viewer.locator('[data-action="new-schedule"]').count() == 0
    assert row.locator("button").count() == 0
    # A schedule the monitor cannot fire shows why, live
    broken = Schedule("broken", "* * * * *", "sleep", Q, args=["not a number"])
    registry.run(save(broken, registry.now_ms() - 120_000, mode="create", who="admin"))

    async def tick() -> list[str]:
        firer = ScheduleFirer(AsyncRegistry(settings))
        try:
            return await firer.fire_due(await firer.registry.now_ms())
        finally:
            await firer.registry.close()

    with ThreadPoolExecutor(1) as pool:  # Playwright's loop runs in this thread
        assert pool.submit(asyncio.run, tick()).result() == []
    badge = viewer.locator('[data-schedule="broken"] [data-last-error]')
    expect(badge).to_have_text("cannot fire")
    expect(badge).to_have_attribute("title", re.compile("^InvalidArguments"))
