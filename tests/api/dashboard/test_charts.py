"""The overview's charts (issue 23): live from the monitor's history events, matching the registry."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable
from typing import Any

import redis
from playwright.sync_api import Page, expect

from shared import keys
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.face_jobs import FACE_QUEUE
from shared.history import WINDOWS
from shared.registry import Registry
from shared.submit import submit
from tests.api.dashboard.conftest import ADMIN_TOKEN, Stack, login, shot
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
    # (the exact values against a known point: test_hovering_a_chart_reads_out_the_exact_values…)
    expect(readout.locator("[data-readout='completed']")).to_have_text(
        re.compile(r"^completed \d+\.\d\d/s \(\d+ in 10 s\)$")
    )
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


def add_point(raw: redis.Redis, seconds_ago: int, queues: dict[str, dict[str, Any]]) -> int:
    """One point of the 10 s tier (the 5 min window's), ending ``seconds_ago`` before now."""
    _, tier = WINDOWS["5m"]
    now_ms = int(raw.time()[0]) * 1000
    t = now_ms - seconds_ago * 1000
    t -= t % tier.step_ms
    raw.xadd(keys.history_key(tier.name), {"queues": json.dumps(queues)}, id=f"{t}-0")
    return t


def figures(completed: int, failed: int, waiting: int, active: int, p50: int, p95: int) -> dict[str, Any]:
    return {
        "completed": completed,
        "failed": failed,
        "waiting": waiting,
        "active": active,
        "p50_ms": p50,
        "p95_ms": p95,
    }


def test_hovering_a_chart_reads_out_the_exact_values_of_its_point(page: Page, raw: redis.Redis) -> None:
    # Given one known point in the 5 minute window: 30 completed and 5 failed in its 10 s
    add_point(raw, 60, {Q: figures(30, 5, 4, 2, 120, 1500)})
    login(page)
    page.goto("/#overview?window=5m")
    expect(page.locator("[data-chart-sums]")).to_have_attribute("data-completed", "30")

    def hover(chart: str) -> Any:
        # The point is the chart's only one: the nearest wherever the pointer is on the plot
        page.locator(f"[data-chart='{chart}'] svg").hover()
        readout = page.locator(f"[data-chart='{chart}'] .readout")
        expect(readout).to_be_visible()
        return readout

    # When each chart is hovered, Then its readout states the point's exact values
    readout = hover("throughput")
    expect(readout.locator("[data-readout='completed']")).to_have_text("completed 3.00/s (30 in 10 s)")
    expect(readout.locator("[data-readout='failed']")).to_have_text("failed 0.50/s (5 in 10 s)")
    readout = hover("depth")
    expect(readout.locator("[data-readout='waiting']")).to_have_text("waiting 4")
    expect(readout.locator("[data-readout='active']")).to_have_text("active 2")
    readout = hover("runtime")
    expect(readout.locator("[data-readout='p50']")).to_have_text("p50 120 ms")
    expect(readout.locator("[data-readout='p95']")).to_have_text("p95 1.50 s")
    shot(page, "chart-readout")


def test_a_queue_scoped_viewer_sees_the_charts_of_its_queues(
    page: Page, stack: Stack, raw: redis.Redis
) -> None:
    # Given chart points of two queues, and a viewer key scoped to one of them
    add_point(raw, 40, {Q: figures(50, 0, 0, 0, 1, 1), FACE_QUEUE: figures(7, 1, 0, 0, 1, 1)})
    add_point(raw, 30, {Q: figures(50, 0, 0, 0, 1, 1), FACE_QUEUE: figures(3, 2, 0, 0, 1, 1)})
    request = urllib.request.Request(
        f"{stack.url}/api/v1/keys",
        data=json.dumps({"name": "faces", "role": "viewer", "queues": [FACE_QUEUE]}).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        secret = json.loads(response.read())["secret"]
    # When it opens the overview
    login(page, secret)
    page.goto("/#overview?window=5m")
    # Then its charts show its queue's figures, none of the other's (and no "No chart history")
    sums = page.locator("[data-chart-sums]")
    expect(sums).to_have_attribute("data-completed", "10")
    expect(sums).to_have_attribute("data-failed", "3")
    expect(sums).not_to_contain_text("No chart history")
    expect(page.locator("[data-chart='throughput'] path[data-series='completed']")).to_have_attribute(
        "d", re.compile(r"^M[\d.]+,[\d.]+L")
    )
