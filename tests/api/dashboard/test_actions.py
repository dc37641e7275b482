"""Admin actions from the page reach Redis and the workers; a viewer gets no way to make any."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import redis
from playwright.sync_api import Page, expect

from shared import keys
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.registry import Registry
from shared.states import JobState
from shared.submit import submit
from tests.api.dashboard.conftest import VIEWER_TOKEN, Stack, count, login, shot, toast
from tests.helpers import transitions_of
from tests.processes import WorkerGroup, wait_for

#: Seconds a paused queue is watched for a job that should not start. Well beyond a worker's
#: pick-up latency (50 ms idle poll in the tests), so a leak through the pause would show.
PAUSED_WATCH_S = 1.5


def test_pause_and_resume_from_the_page_reach_the_workers(
    page: Page,
    stack: Stack,
    registry: Registry,
    raw: redis.Redis,
    start_worker: Callable[..., WorkerGroup],
    start_monitor: Callable[..., Any],
) -> None:
    start_worker()
    login(page)
    card = page.locator(f'[data-queue="{Q}"]')
    # When the admin pauses the queue from its card
    card.locator('[data-action="pause"]').click()
    expect(page.locator(".toast.ok", has_text=f"{Q} paused")).to_be_visible()
    expect(card.locator(".badge.paused")).to_be_visible()
    assert raw.sismember(keys.PAUSED, Q)
    # Then jobs submitted meanwhile wait: the workers start none of them
    ids = [submit(registry, "noop") for _ in range(3)]
    expect(count(page, Q, "waiting")).to_have_text("3")
    time.sleep(PAUSED_WATCH_S)  # a bounded watch: nothing may happen in it
    assert {registry.get(i).state for i in ids} == {JobState.WAITING}
    expect(count(page, Q, "active")).to_have_text("0")
    shot(page, "overview-paused")
    # When the admin resumes it, the workers run them all
    card.locator('[data-action="resume"]').click()
    expect(card.locator(".badge.paused")).to_be_hidden()
    expect(count(page, Q, "completed")).to_have_text("3")
    expect(count(page, Q, "waiting")).to_have_text("0")
    assert {registry.get(i).state for i in ids} == {JobState.COMPLETED}
    # And cleaning finished jobs from the card previews the exact count, then the monitor removes them
    start_monitor()
    card.locator("form.clean input[name=older]").fill("0")
    card.locator("form.clean button[type=submit]").click()
    expect(page.locator("#confirm-text")).to_contain_text(
        f"Clean completed jobs of {Q} finished more than 0 d ago"
    )
    expect(page.locator("#confirm-text")).to_contain_text("exactly 3 jobs")
    page.click("#confirm-ok")
    expect(page.locator(".toast.ok", has_text="3 jobs to clean")).to_be_visible()
    expect(count(page, Q, "completed")).to_have_text("0")
    assert not any(raw.exists(keys.job_key(i)) for i in ids)


def test_retry_a_failed_job_from_its_row(
    page: Page, stack: Stack, registry: Registry, raw: redis.Redis, start_worker: Callable[..., WorkerGroup]
) -> None:
    start_worker()
    job = submit(registry, "fail", ["retry me"], max_retries=0)
    wait_for(lambda: registry.get(job).state is JobState.FAILED, what="the job to fail")
    login(page)
    page.click('#nav a[data-view="jobs"]')
    page.click('[data-state-tab="failed"]')
    row = page.locator(f'tr[data-job="{job}"]')
    expect(row).to_have_attribute("data-state", "failed")
    shot(page, "jobs-failed")
    # When the admin clicks its Retry
    row.locator('[data-action="retry"]').click()
    expect(page.locator(".toast.ok", has_text=f"{job} retried")).to_be_visible()
    # Then it went back to waiting by an admin retry, and ran (and failed) again
    wait_for(lambda: transitions_of(raw, job).count(("active", "failed")) == 2, what="the second run")
    retry = [e for e in registry.get(job).timeline if e.get("reason") == "retry"]
    assert (
        retry
        and retry[0]["from"] == "failed"
        and retry[0]["to"] == "waiting"
        and retry[0]["who"] == "FQ_ADMIN_TOKEN"
    )
    # And the drawer shows the job's history, error and traceback
    row.locator("td button.link").click()
    drawer = page.locator("#drawer")
    expect(drawer.locator("[data-drawer-state]")).to_have_text("failed")
    expect(drawer.locator(".timeline li")).to_have_count(len(registry.get(job).timeline))
    expect(drawer.locator("pre.traceback")).to_contain_text("CanaryFailure: retry me")
    shot(page, "drawer-failed")


def test_bulk_delete_by_filter_previews_the_exact_count_and_removes_them_all(
    page: Page, stack: Stack, registry: Registry, raw: redis.Redis, start_monitor: Callable[..., Any]
) -> None:
    delayed = [submit(registry, "noop", delay_ms=600_000) for _ in range(60)]
    kept = submit(registry, "noop")
    login(page)
    expect(count(page, Q, "delayed")).to_have_text("60")
    count(page, Q, "delayed").click()  # the overview's count opens that queue and state
    # The table pages by cursor: 50, then the other 10, and back
    rows = page.locator("tr[data-job]")
    expect(rows).to_have_count(50)
    page.click('[data-page="next"]')
    expect(rows).to_have_count(10)
    page.click('[data-page="previous"]')
    expect(rows).to_have_count(50)
    # When the admin deletes everything matching the filter, the preview states exactly how many
    start_monitor()
    page.click('[data-bulk="delete-filter"]')
    expect(page.locator("#confirm-text")).to_contain_text(
        "Delete all delayed jobs of diagnostics? This touches exactly 60 jobs."
    )
    shot(page, "bulk-confirm")
    page.click("#confirm-ok")
    # Then it runs as an operation: all of them go (not only the page on screen), and nothing else
    expect(toast(page, "60 jobs to delete")).to_be_visible()
    expect(rows).to_have_count(0)
    expect(count(page, Q, "delayed")).to_have_text("0")
    assert raw.zcard(keys.state_key(Q, "delayed")) == 0
    assert not any(raw.exists(keys.job_key(j)) for j in delayed)
    assert registry.get(kept).state is JobState.WAITING


def test_row_actions_promote_reprioritise_and_delete(
    page: Page, stack: Stack, registry: Registry, raw: redis.Redis
) -> None:
    later, urgent, doomed = (submit(registry, "noop", delay_ms=600_000) for _ in range(3))
    login(page)
    page.goto("/#jobs")
    page.click('[data-state-tab="delayed"]')
    row = page.locator(f'tr[data-job="{urgent}"]')
    row.locator("input.prio").fill("0")
    row.locator('[data-action="priority"]').click()
    expect(toast(page, f"{urgent}: priority 0")).to_be_visible()
    row.locator('[data-action="promote"]').click()
    expect(toast(page, f"{urgent} runs now")).to_be_visible()
    expect(row).to_have_count(0)  # it left the delayed list
    page.locator(f'tr[data-job="{doomed}"] [data-action="delete"]').click()
    expect(toast(page, f"{doomed} deleted")).to_be_visible()
    expect(page.locator("tr[data-job]")).to_have_count(1)
    job = registry.get(urgent)
    assert (job.state, job.priority) == (JobState.WAITING, 0)
    assert registry.get(later).state is JobState.DELAYED
    assert not raw.exists(keys.job_key(doomed))


def test_a_priority_being_typed_is_not_redrawn_under_the_typing_and_the_list_catches_up(
    page: Page, stack: Stack, registry: Registry
) -> None:
    first = submit(registry, "noop", delay_ms=600_000)
    login(page)
    page.goto("/#jobs")
    page.click('[data-state-tab="delayed"]')
    row = page.locator(f'tr[data-job="{first}"]')
    field = row.locator("input.prio")
    # While the operator types a priority...
    field.click()
    field.press("Control+a")
    field.press_sequentially("7")
    # ...a live change to the list (a new delayed job) waits: the input is not swapped mid-typing
    newcomer = submit(registry, "noop", delay_ms=600_000)
    time.sleep(PAUSED_WATCH_S)  # a bounded watch: the redraw may not happen in it
    expect(page.locator(f'tr[data-job="{newcomer}"]')).to_have_count(0)
    field.press_sequentially("1")
    expect(field).to_have_value("71")
    # and once the priority is set, the list catches up
    row.locator('[data-action="priority"]').click()
    expect(toast(page, f"{first}: priority 71")).to_be_visible()
    expect(page.locator(f'tr[data-job="{newcomer}"]')).to_have_count(1)
    assert registry.get(first).priority == 71


def test_bulk_on_a_selection_touches_only_the_selected_jobs(
    page: Page, stack: Stack, registry: Registry, raw: redis.Redis, start_monitor: Callable[..., Any]
) -> None:
    jobs = [submit(registry, "noop", delay_ms=600_000) for _ in range(4)]
    login(page)
    page.goto("/#jobs")
    page.click('[data-state-tab="delayed"]')
    for job in jobs[:2]:
        page.locator(f'tr[data-job="{job}"] input[type=checkbox]').check()
    expect(page.locator("[data-selected]")).to_have_text("2 selected")
    start_monitor()
    page.click('[data-bulk="promote-selected"]')
    expect(page.locator("#confirm-text")).to_contain_text(
        "Promote 2 selected jobs? This touches exactly 2 jobs."
    )
    page.click("#confirm-ok")
    expect(toast(page, "2 jobs to promote")).to_be_visible()
    expect(page.locator("tr[data-job]")).to_have_count(2)  # the promoted ones left the delayed list
    states = [registry.get(j).state for j in jobs]
    assert states == [JobState.WAITING, JobState.WAITING, JobState.DELAYED, JobState.DELAYED]
    # And a search by id finds that one job, across states
    page.click('[data-state-tab="all"]')
    page.fill('input[type="search"]', jobs[3])  # ids of one millisecond share long prefixes
    page.click("form.search button[type=submit]")
    expect(page.locator("tr[data-job]")).to_have_count(1)
    expect(page.locator(f'tr[data-job="{jobs[3]}"]')).to_be_visible()


def test_an_api_refusal_is_shown_in_the_apis_words(page: Page, stack: Stack, raw: redis.Redis) -> None:
    login(page)
    page.click('#nav a[data-view="submit"]')
    page.select_option('select[name="actor"]', "sleep")
    page.fill('textarea[name="args"]', '{"seconds": -1}')  # the catalog's minimum is 0: a 422
    page.click("form.submit button[type=submit]")
    expect(page.locator(".toast.error")).to_have_text("Submit sleep failed: seconds: must be >= 0")
    assert raw.zcard(keys.JOBS_INDEX) == 0


def test_the_viewer_sees_no_controls_and_the_api_refuses_its_changes(
    page: Page, stack: Stack, registry: Registry, raw: redis.Redis, start_worker: Callable[..., WorkerGroup]
) -> None:
    start_worker()
    failed = submit(registry, "fail", max_retries=0)
    wait_for(lambda: registry.get(failed).state is JobState.FAILED, what="the job to fail")
    submit(registry, "noop", delay_ms=600_000)
    login(page, VIEWER_TOKEN)
    expect(page.locator("#who")).to_have_text("viewer")
    expect(count(page, Q, "failed")).to_have_text("1")
    # Then no view offers a change: no pause, clean, submit, row or bulk action, worker removal
    controls = "[data-action], [data-bulk], form.clean, #view-jobs input[type=checkbox]"
    expect(page.locator('#nav a[data-view="submit"]')).to_have_count(0)
    expect(page.locator(controls)).to_have_count(0)
    shot(page, "viewer-overview")
    for state in ("failed", "delayed"):
        page.goto("/#jobs")
        page.click(f'[data-state-tab="{state}"]')
        expect(page.locator("tr[data-job]")).to_have_count(1)
        expect(page.locator(controls)).to_have_count(0)
    page.goto("/#workers")
    expect(page.locator("tr[data-worker]")).to_have_count(1)
    expect(page.locator(controls)).to_have_count(0)
    page.goto("/#submit")  # not offered; the address alone shows the overview
    expect(page.locator("#view-overview")).to_be_visible()
    # And the API refuses what the page would have sent, with the CSRF header and the cookie
    status = page.evaluate(
        """async (queue) => (await fetch(`/api/v1/queues/${queue}/pause`,
               {method: "POST", headers: {"X-Facequeue-CSRF": "1"}})).status""",
        Q,
    )
    assert status == 403
    assert not raw.sismember(keys.PAUSED, Q)


def test_a_job_sent_from_dramatiq_code_shows_its_keyword_arguments_and_options(
    page: Page, stack: Stack, registry: Registry, dropin_module: ModuleType
) -> None:
    # Given a job an ordinary Dramatiq app sent with keyword arguments and options
    sent = dropin_module.add.send_with_options(
        args=(1,), kwargs={"scale": 3}, on_success="on_done", time_limit=5_000, delay=600_000
    )
    login(page)
    page.click('#nav a[data-view="jobs"]')
    page.click('[data-state-tab="delayed"]')
    # When the operator opens it
    row = page.locator(f'tr[data-job="{sent.message_id}"]')
    expect(row).to_have_attribute("data-state", "delayed")
    row.locator("td button.link").click()
    # Then the drawer shows its actor, keyword arguments and Dramatiq options
    drawer = page.locator("#drawer")
    expect(drawer.locator("[data-drawer-kwargs]")).to_contain_text('"scale": 3')
    expect(drawer.locator("[data-drawer-options]")).to_contain_text('"on_success": "on_done"')
    expect(drawer.locator("[data-drawer-options]")).to_contain_text('"time_limit": 5000')
    # and it can be promoted from there like any job
    drawer.get_by_role("button", name="Promote").click()
    wait_for(lambda: registry.get(sent.message_id).state is JobState.WAITING, what="promotion")
    shot(page, "drawer-dramatiq-options")
