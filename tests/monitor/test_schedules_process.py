"""Two real monitor processes fire a due schedule once (issue 21)."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Callable

import redis

from shared import keys
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.registry import Registry
from shared.schedules import Schedule, save
from tests import typed_redis
from tests.conftest import ServiceProcess, wait_for
from tests.helpers import events

DAY_MS = 86_400_000


def ticks(monitor: ServiceProcess) -> float:
    url = f"http://127.0.0.1:{monitor.settings.monitor_port}/metrics"
    with urllib.request.urlopen(url, timeout=2) as response:
        text = response.read().decode()
    match = re.search(r"^facequeue_monitor_ticks_total (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_two_monitors_fire_a_missed_daily_schedule_once(
    registry: Registry, raw: redis.Redis, start_monitor: Callable[..., ServiceProcess]
) -> None:
    # Given a daily run_once schedule whose last two days passed with no monitor running
    daily = Schedule("daily", "@daily", "noop", Q, misfire="run_once")
    registry.run(save(daily, registry.now_ms() - 2 * DAY_MS, mode="create", who="test"))
    # When two monitor replicas start
    monitors = [start_monitor(monitor_interval_s=0.2), start_monitor(monitor_interval_s=0.2)]
    # Then one job is created for the missed days, and several ticks of both later still one
    wait_for(lambda: raw.hget(keys.schedule_key("daily"), "last_job"), timeout=20, what="the firing")
    seen = [ticks(m) for m in monitors]
    wait_for(lambda: all(ticks(m) >= t + 3 for m, t in zip(monitors, seen, strict=True)), what="more ticks")
    jobs = [
        typed_redis.hgetall(raw, keys.job_key(j)) for j in typed_redis.zrange(raw, keys.JOBS_INDEX, 0, -1)
    ]
    assert [j["schedule"] for j in jobs] == ["daily"]
    (fired,) = [e["data"] for e in events(raw) if e["type"] == "schedule" and e["data"]["action"] == "fired"]
    assert fired["missed"] >= 1
    assert int(raw.hget(keys.schedule_key("daily"), "next_ms") or 0) > registry.now_ms()
