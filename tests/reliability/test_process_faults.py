"""Workers killed -9 again and again, a monitor gone for a while, a gateway killed under 200 clients."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
import redis

from shared import keys
from shared.registry import Registry
from shared.states import JobState
from shared.submit import submit
from tests import typed_redis
from tests.conftest import EventTap
from tests.processes import children, kill9, wait_for
from tests.reliability import invariants
from tests.reliability.conftest import ResumingClient, eventually, record_figure


def test_workers_killed_repeatedly_complete_every_job_exactly_once(
    registry: Registry, raw: redis.Redis, start_worker: Callable[..., Any]
) -> None:
    # Given a steady worker and a stream of 150 jobs of 0.1 s, 50 arriving with each victim (all
    # at once, the steady worker could drain them while a victim boots on a loaded machine)
    start_worker(worker_threads=2)
    ids: list[str] = []
    # When, three times, a second worker group takes jobs and is killed -9 mid-job
    kills = 0
    for _ in range(3):
        before = set(raw.zrange(keys.WORKERS, 0, -1))
        victim = start_worker(worker_threads=2)
        (victim_id,) = set(typed_redis.zrange(raw, keys.WORKERS)) - before
        ids += [submit(registry, "sleep", [0.1]) for _ in range(50)]

        def victim_busy(victim_id: str = victim_id) -> bool:
            active = typed_redis.zrange(raw, keys.state_key("diagnostics", "active"))
            return any(raw.hget(keys.job_key(j), "worker") == victim_id for j in active)

        wait_for(victim_busy, what="the victim running a job")
        for pid in children(victim.process.pid):
            kill9(pid)
            kills += 1
        kill9(victim.process.pid)
        victim.process.wait()
    # Then every job ends completed, each completed exactly once
    wait_for(
        lambda: registry.counts(["diagnostics"])["diagnostics"][JobState.COMPLETED.value] == len(ids),
        timeout=90,
        what="all completed",
    )
    assert kills >= 3
    assert invariants.check(raw) == {"completed": len(ids)}
    transitions = invariants.job_transitions(raw)
    recovered = 0
    for job_id in ids:
        steps = transitions[job_id]
        assert steps.count(("active", "completed")) == 1, steps
        recovered += steps.count(("active", "waiting"))
    assert recovered >= 3  # the killed workers' jobs went back to waiting and ran again
    record_figure(
        "worker_kill9",
        jobs=len(ids),
        processes_killed=kills,
        jobs_recovered=recovered,
        lost=0,
        completed_twice=0,
    )


#: Five seconds in make test (ten jobs, two of them delayed); the minute under make soak.
@pytest.mark.parametrize("down_s", [5, pytest.param(60, marks=pytest.mark.soak)])
def test_monitor_down_for_a_while_loses_nothing_and_delayed_jobs_still_run_on_time(
    registry: Registry,
    raw: redis.Redis,
    start_worker: Callable[..., Any],
    start_monitor: Callable[..., Any],
    tap: EventTap,
    down_s: int,
) -> None:
    monitor = start_monitor()
    start_worker()
    # When the monitor is gone for a while (a minute under make soak) while jobs keep coming,
    # some of them delayed
    monitor.process.send_signal(signal.SIGKILL)
    monitor.process.wait()
    waiting: list[str] = []
    delayed: list[str] = []
    deadline = time.monotonic() + down_s
    while time.monotonic() < deadline:
        waiting.append(submit(registry, "noop"))
        if len(waiting) % 5 == 0:
            delayed.append(submit(registry, "noop", delay_ms=2000))
        time.sleep(0.5)  # the pace of the scenario: two jobs a second while the monitor is down
    # Then every job ran meanwhile: the workers' own dispatch released each delayed job when due
    wait_for(
        lambda: all(registry.get(j).state is JobState.COMPLETED for j in waiting + delayed),
        timeout=30,
        what="jobs done without a monitor",
    )
    lateness = []
    for job_id in delayed:
        job = registry.get(job_id)
        assert job.started_ms is not None
        lateness.append(job.started_ms - (job.created_ms + 2000))
    assert min(lateness) >= 0 and max(lateness) < 1000, lateness
    record_figure(
        f"monitor_down_{down_s}s",
        jobs=len(waiting) + len(delayed),
        delayed_release_late_ms_max=max(lateness),
        delayed_release_late_ms_median=sorted(lateness)[len(lateness) // 2],
    )
    # And when it returns it announces the workers at once, with nothing to repair
    before = len(tap.of_type("workers"))
    start_monitor()
    wait_for(lambda: len(tap.of_type("workers")) > before, timeout=5, what="workers event")
    assert invariants.check(raw) == {"completed": len(waiting) + len(delayed)}


async def test_gateway_killed_under_200_clients_every_client_resumes_without_gap_or_duplicate(
    registry: Registry, raw: redis.Redis, start_service: Callable[..., Any]
) -> None:
    # 200 clients from one loopback address: lift the per-address cap (issue 16).
    first = start_service("stream", stream_max_connections_per_address=0)
    port = first.settings.stream_port
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        clients = [ResumingClient(f"http://127.0.0.1:{port}/stream") for _ in range(200)]
        for client in clients:
            client.start(session)
        # (events before a client's snapshot are covered by it, not sent: start once all have one)
        await eventually(lambda: all(c.snapshots for c in clients), what="200 clients with a snapshot")
        for _ in range(50):
            submit(registry, "noop")
        await eventually(lambda: all(len(c.seqs) >= 50 for c in clients), what="first events")
        # When the gateway is killed without warning while events keep coming
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait()
        for _ in range(100):
            submit(registry, "noop")
        # And a new one comes up on the same port
        restarted = time.monotonic()
        start_service("stream", stream_port=port, stream_max_connections_per_address=0)
        for _ in range(50):
            submit(registry, "noop")
        stream_seqs = [int(f["seq"]) for _, f in typed_redis.xrange(raw, keys.EVENTS_STREAM)]
        await eventually(
            lambda: all(c.seqs and c.seqs[-1] == stream_seqs[-1] for c in clients), timeout=60, what="resumed"
        )
        resumed_s = time.monotonic() - restarted
        for client in clients:
            await client.stop()
        # Then each client's events are exactly the stream's, from its first: no gap, no duplicate
        for client in clients:
            assert client.connects >= 2
            assert client.seqs == [s for s in stream_seqs if s >= client.seqs[0]]
        record_figure(
            "gateway_kill9_200_clients",
            clients=len(clients),
            resumed_after_s=round(resumed_s, 2),
            events_per_client=len(stream_seqs),
            gaps=0,
            duplicates=0,
        )
    assert invariants.check(raw) == {"waiting": 200}
