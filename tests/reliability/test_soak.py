"""The soak (``make soak``, minutes, not in CI): steady jobs, 500 dashboards, admin actions meanwhile.

Checks that every process's memory stays flat after warm-up, and Redis's too with
retention set low (issue 18: within ±10 %), no process logs an error, and the
invariants hold at the end. ``FQ_SOAK_SECONDS`` sets the length.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis

from shared import actions
from shared.registry import Registry
from shared.retention import Retention, set_policy
from shared.states import JobState
from shared.submit import submit
from tests.processes import children, metric_sum
from tests.reliability import invariants
from tests.reliability.conftest import ResumingClient, eventually

SOAK_S = float(os.environ.get("FQ_SOAK_SECONDS", "180"))
JOBS_PER_S = 40
DASHBOARDS = 500
#: Growth of a process's RSS from after warm-up to the end that still counts as flat.
FLAT = 1.25
#: Redis's used memory after warm-up and at the end may differ by this much (issue 18).
REDIS_FLAT = 0.10
#: Retention low enough to reach its steady state within the warm-up at JOBS_PER_S.
SOAK_RETENTION = Retention(completed_age_s=60.0, completed_count=500, failed_age_s=60.0, failed_count=100)
#: Seconds of events kept: the stream reaches its steady length within the warm-up too.
SOAK_EVENTS_AGE_S = 20.0
#: Seconds a deleted job stays in the trash, for the same reason (the default keeps a day).
SOAK_TRASH_TTL_S = 20
SOAK_TRASH_TTL_MS = SOAK_TRASH_TTL_S * 1000


class Load:
    """Jobs at a steady rate (a few failing) and an operator pausing, resuming and deleting meanwhile."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.submitted: list[str] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._produce, daemon=True),
            threading.Thread(target=self._administer, daemon=True),
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)

    def _produce(self) -> None:
        while not self._stop.is_set():
            self.submitted.append(submit(self.registry, "sleep", [0.01]))
            if len(self.submitted) % 20 == 0:
                self.submitted.append(submit(self.registry, "fail", ["soak"], max_retries=0))
            self._stop.wait(1 / JOBS_PER_S)

    def _administer(self) -> None:
        while not self._stop.wait(5):
            self.registry.run(actions.pause("diagnostics", who="soak"))
            self._stop.wait(0.5)
            self.registry.run(actions.resume("diagnostics", who="soak"))
            failed, _ = self.registry.list("diagnostics", JobState.FAILED, limit=10)
            for job in failed:
                delete = actions.delete(job.id, "diagnostics", who="soak", trash_ttl_ms=SOAK_TRASH_TTL_MS)
                self.registry.run(delete)


def redis_by_key_shape(raw: redis.Redis) -> Counter[str]:
    """Redis memory per key shape (ids folded to ``*``): names what grew when Redis did."""
    usage: Counter[str] = Counter()
    for key in raw.scan_iter(count=1000):
        usage[re.sub(r"[0-9a-z]{16,}", "*", key)] += int(raw.memory_usage(key) or 0)
    return usage


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@pytest.mark.soak
@pytest.mark.timeout(SOAK_S + 600)
async def test_soak_steady_load_keeps_memory_flat_and_the_registry_consistent(
    registry: Registry,
    raw: redis.Redis,
    start_worker: Callable[..., Any],
    start_monitor: Callable[..., Any],
    start_service: Callable[..., Any],
) -> None:
    worker = start_worker(worker_threads=4)
    monitor = start_monitor(events_max_age_s=SOAK_EVENTS_AGE_S, trash_ttl_s=SOAK_TRASH_TTL_S)
    registry.run(set_policy("diagnostics", SOAK_RETENTION, who="soak"))
    api = start_service("api")
    # 500 dashboards from one loopback address: lift the per-address cap (issue 16).
    gateway = start_service("stream", stream_max_connections_per_address=0)
    load = Load(registry)
    processes = {
        "api": api.process.pid,
        "stream": gateway.process.pid,
        "monitor": monitor.process.pid,
        **{f"worker-{i}": pid for i, pid in enumerate(children(worker.process.pid))},
    }
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        clients = [
            ResumingClient(f"http://127.0.0.1:{gateway.settings.stream_port}/stream")
            for _ in range(DASHBOARDS)
        ]
        for client in clients:
            client.start(session)
        await eventually(lambda: all(c.snapshots for c in clients), timeout=120, what="dashboards")
        load.start()
        await asyncio.sleep(min(30.0, SOAK_S / 4))  # warm-up: caches, buffers, pools
        start = {name: rss_kib(pid) for name, pid in processes.items()}
        redis_start = int(raw.info("memory")["used_memory"])
        shapes_start = redis_by_key_shape(raw)
        await asyncio.sleep(SOAK_S)
        end = {name: rss_kib(pid) for name, pid in processes.items()}
        redis_end = int(raw.info("memory")["used_memory"])
        shapes_end = redis_by_key_shape(raw)
        # clients the gateway dropped for not reading fast enough
        dropped = metric_sum(gateway.settings.stream_port, "facequeue_stream_slow_client_drops_total")
        load.stop()
        registry.run(actions.resume("diagnostics", who="soak"))
        await eventually(
            lambda: registry.counts(["diagnostics"])["diagnostics"][JobState.WAITING.value] == 0, timeout=120
        )
        for client in clients:
            await client.stop()
    print(f"\nsoak {SOAK_S:.0f}s, {len(load.submitted)} jobs, {DASHBOARDS} dashboards; RSS KiB start -> end:")
    for name in processes:
        print(f"  {name:<10} {start[name]:>8} -> {end[name]:>8}  ({end[name] / max(1, start[name]):.2f}x)")
    ratio = redis_end / redis_start
    print(f"  redis      {redis_start // 1024:>8} -> {redis_end // 1024:>8}  ({ratio:.2f}x)")
    growth = shapes_end.copy()
    growth.subtract(shapes_start)
    print(f"  dashboards dropped as slow: {dropped:.0f}; Redis growth by key: {growth.most_common(4)}")
    # Dashboards that fell behind would be dropped and resume: the memory figures would then
    # measure that churn, not a steady gateway.
    assert dropped == 0, f"{dropped:.0f} dashboards dropped as slow"
    grown = {n: (start[n], end[n]) for n in processes if end[n] > start[n] * FLAT}
    assert not grown, f"memory grew (KiB start, end): {grown}"
    assert abs(redis_end - redis_start) <= REDIS_FLAT * redis_start, (redis_start, redis_end)
    for log in (api.log(), gateway.log(), monitor.log(), worker.log()):
        errors = [
            line
            for line in log.splitlines()
            if '"level": "error"' in line
            and "Failed to process message fail(" not in line  # a job's own failure
        ]
        assert not errors, errors[:3]
    invariants.check(raw)
