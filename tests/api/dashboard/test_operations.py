"""The Operations panel and the Failures view in Chromium (issue 20): preview, live progress,
cancel, undo, failure groups and acting on one group."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis
from playwright.sync_api import Page, expect

from shared import actions, keys
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.registry import Registry
from shared.states import JobState
from tests.api.dashboard.conftest import Stack, login, shot, toast
from tests.api.test_operations import fail_jobs

#: How long a monitor may take to run a whole operation: seconds alone, but a fresh-clone run
#: on a loaded 2-core machine saw a 30-job delete sit at 28 for over the default 10 s.
RUN_TIMEOUT_MS = 45_000


def test_a_failure_group_is_previewed_retried_with_live_progress_and_others_stay(
    page: Page, stack: Stack, registry: Registry, raw: redis.Redis, start_monitor: Callable[..., Any]
) -> None:
    # Given failures of two causes
    keyerrors = fail_jobs(registry, 120, "fp-key", "KeyError")
    valueerrors = fail_jobs(registry, 7, "fp-value", "ValueError")
    login(page)
    # When the admin opens the Failures view
    page.goto("/#failures")
    groups = page.locator("tr[data-group]")
    expect(groups).to_have_count(2)
    expect(page.locator('tr[data-group="fp-key"] [data-group-count]')).to_have_text("120")
    expect(page.locator('tr[data-group="fp-value"] [data-group-count]')).to_have_text("7")
    # and drills into a group's jobs
    page.locator('tr[data-group="fp-value"] [data-group-action="jobs"]').click()
    expect(page.locator(".group-job-list li")).to_have_count(7)
    shot(page, "failures")
    # When it retries the KeyError group: the preview states the exact count
    page.locator('tr[data-group="fp-key"] [data-group-action="retry"]').click()
    expect(page.locator("#confirm-text")).to_contain_text("This touches exactly 120 jobs.")
    page.click("#confirm-ok")
    expect(toast(page, "120 jobs to retry")).to_be_visible()
    # Then the Operations panel shows it queued, then done as a monitor runs it, live
    page.goto("/#operations")
    op_row = page.locator("tr[data-op]").first
    expect(op_row).to_have_attribute("data-state", "queued")
    start_monitor(operation_batch=10)
    expect(op_row).to_have_attribute("data-state", "done", timeout=RUN_TIMEOUT_MS)
    expect(op_row.locator("[data-done]")).to_have_text("120")
    expect(op_row.locator("progress")).to_have_attribute("value", "120")
    shot(page, "operations")
    # and only that group's jobs were retried; the other group is untouched
    assert {registry.get(j).state for j in keyerrors} == {JobState.WAITING}
    assert {registry.get(j).state for j in valueerrors} == {JobState.FAILED}
    page.goto("/#failures")
    expect(groups).to_have_count(1)


def test_a_delete_is_undone_and_a_queued_operation_cancelled_from_the_panel(
    page: Page, stack: Stack, registry: Registry, raw: redis.Redis, start_monitor: Callable[..., Any]
) -> None:
    failed = fail_jobs(registry, 30, "fp-x", "OSError")
    login(page)
    # Given a delete of the group, queued while no monitor runs: it can be cancelled
    page.goto("/#failures")
    page.locator('tr[data-group="fp-x"] [data-group-action="delete"]').click()
    expect(page.locator("#confirm-text")).to_contain_text("exactly 30 jobs")
    page.click("#confirm-ok")
    page.goto("/#operations")
    first = page.locator("tr[data-op]").first
    first.locator('[data-op-action="cancel"]').click()
    expect(first).to_have_attribute("data-state", "cancelled")
    assert raw.zcard(keys.state_key(Q, "failed")) == 30
    # When it is deleted for real and a monitor runs it
    start_monitor(operation_batch=7)
    page.goto("/#failures")
    page.locator('tr[data-group="fp-x"] [data-group-action="delete"]').click()
    page.click("#confirm-ok")
    page.goto("/#operations")
    deleted = page.locator("tr[data-op]").first
    expect(deleted).to_have_attribute("data-state", "done", timeout=RUN_TIMEOUT_MS)
    assert raw.zcard(keys.state_key(Q, "failed")) == 0
    # Then Undo restores every job, its group too
    deleted.locator('[data-op-action="undo"]').click()
    expect(page.locator("#confirm-text")).to_contain_text("Restore the 30 jobs")
    page.click("#confirm-ok")
    undo = page.locator("tr[data-op]").first
    expect(undo).to_contain_text("undo of")
    expect(undo).to_have_attribute("data-state", "done", timeout=RUN_TIMEOUT_MS)
    assert {registry.get(j).state for j in failed} == {JobState.FAILED}
    assert raw.hget(keys.failure_group_key(Q, "fp-x"), "count") == "30"


def test_a_deleted_job_is_listed_in_the_trash_and_restored_from_it(
    page: Page, stack: Stack, registry: Registry, raw: redis.Redis
) -> None:
    # Given two failed jobs, one deleted on its own
    kept, deleted = fail_jobs(registry, 2, "fp-t", "OSError")
    registry.run(actions.delete(deleted, Q))
    login(page)
    # When the admin opens the Operations view, the trash lists it with the state it was in
    page.goto("/#operations")
    entry = page.locator(f'tr[data-trash="{deleted}"]')
    expect(entry).to_contain_text("failed")
    expect(page.locator("tr[data-trash]")).to_have_count(1)
    # When another job is deleted meanwhile, the trash shows it live
    registry.run(actions.delete(kept, Q))
    expect(page.locator("tr[data-trash]")).to_have_count(2)
    # When the first is restored
    entry.locator('[data-trash-action="restore"]').click()
    expect(toast(page, f"{deleted} restored: failed")).to_be_visible()
    # Then it is back in its state and group, and gone from the trash
    expect(entry).to_have_count(0)
    assert registry.get(deleted).state is JobState.FAILED
    assert raw.hget(keys.failure_group_key(Q, "fp-t"), "count") == "1"
