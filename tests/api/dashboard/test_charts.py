"""The overview's charts (issue 23): live from the monitor's history events, matching the registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis
from playwright.sync_api import Page, expect

from shared import keys
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.registry import Registry
from shared.submit import submit
from tests.api.dashboard.conftest import login, shot
from tests.conftest import wait_for

#: A 10 s bucket closes, then the monitor's next tick writes it: well within this.
BUCKET_WAIT_MS = 30_000


def test_overview_charts_count_what_the_registry_counts_live(
    page: Page,
    registry: Registry,
    raw: redis.Redis,
    start_worker: Callable[..., Any],
    start_monitor: Callable[..., Any],
) -> None:
    # Given the overview on a 5-minute window, a monitor and a real worker
    login(page)
    page.goto("/#overview?window=5m")
    expect(page.locator("button[data-window='5m']")).to_have_attribute("aria-pressed", "true")
    start_monitor(monitor_interval_s=0.5)
    start_worker(worker_processes=1, worker_threads=2)
    # When 12 jobs complete and 3 fail
    for _ in range(12):
        submit(registry, "noop")
    for _ in range(3):
        submit(registry, "fail", ["boom"], max_retries=0)

    def finished() -> bool:
        return raw.zcard(keys.state_key(Q, "completed")) == 12 and raw.zcard(keys.state_key(Q, "failed")) == 3

    wait_for(finished, timeout=30, what="jobs finished")
    # Then, without a reload, the charts' sums reach exactly the registry's counts
    sums = page.locator("[data-chart-sums]")
    expect(sums).to_have_attribute("data-completed", "12", timeout=BUCKET_WAIT_MS)
    expect(sums).to_have_attribute("data-failed", "3", timeout=BUCKET_WAIT_MS)
    # And a queue of its own shows the same (the jobs all ran on diagnostics)
    page.select_option("select[aria-label='chart queue']", Q)
    expect(page).to_have_url(f"{page.url.split('#')[0]}#overview?window=5m&queue={Q}")
    expect(sums).to_have_attribute("data-completed", "12")
    # And hovering the throughput chart shows the exact values of a point
    chart = page.locator("[data-chart='throughput'] svg")
    box = chart.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] - 5, box["y"] + box["height"] / 2)
    readout = page.locator("[data-chart='throughput'] .readout")
    expect(readout).to_be_visible()
    expect(readout.locator("[data-readout='completed']")).to_contain_text("/s")
    # And the run-time chart has drawn its percentiles
    assert page.locator("[data-chart='runtime'] path[data-series='p95']").get_attribute("d")
    shot(page, "overview-charts")


def test_a_queue_cards_trends_link_puts_its_charts_in_the_url(page: Page, registry: Registry) -> None:
    submit(registry, "noop")
    login(page)
    page.click(f"[data-trends='{Q}']")
    expect(page.locator("select[aria-label='chart queue']")).to_have_value(Q)
    assert page.url.endswith(f"#overview?queue={Q}")
    page.go_back()
    expect(page.locator("select[aria-label='chart queue']")).to_have_value("")
