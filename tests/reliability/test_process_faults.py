"""Workers killed -9 again and again, a monitor gone for a while, a gateway killed under 200 clients."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import redis

from shared import keys
from shared.registry import Registry
from shared.states import JobState
from shared.submit import submit
from tests.conftest import wait_for
from tests.reliability import invariants
from tests.reliability.conftest import ResumingClient, eventually, kill9, worker_children


def test_workers_killed_repeatedly_complete_every_job_exactly_once(
    registry: Registry, raw: redis.Redis, start_worker: Callable[..., Any]
) -> None:
    # Given a steady worker and a stream of 150 jobs of 0.1 s
    start_worker(worker_threads=2)
    ids = [submit(registry, "sleep", [0.1]) for _ in range(150)]
    # When, three times, a second worker group takes jobs and is killed -9 mid-job
    kills = 0
    for _ in range(3):
        victim = start_worker(worker_threads=2)
        wait_for(lambda: raw.zcard(keys.state_key("diagnostics", "active")) >= 2, what="jobs running")
        for pid in worker_children(victim.process.pid):
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


def test_monitor_down_for_a_while_loses_nothing_and_delayed_jobs_still_run(
    registry: Registry, raw: redis.Redis, start_worker: Callable[..., Any], start_monitor: Callable[..., Any]
) -> None:
    monitor = start_monitor()
    start_worker()
    # When the monitor goes away (for 12 of its ticks)
    monitor.process.send_signal(signal.SIGKILL)
    monitor.process.wait()
    down_since = time.monotonic()
    waiting = [submit(registry, "noop") for _ in range(20)]
    delayed = [submit(registry, "noop", delay_ms=1500) for _ in range(10)]
    # Then jobs still run, and delayed jobs are released by the workers' own dispatch when due
    wait_for(
        lambda: all(registry.get(j).state is JobState.COMPLETED for j in waiting + delayed),
        timeout=30,
        what="jobs done without a monitor",
    )
    for job_id in delayed:
        job = registry.get(job_id)
        assert job.started_ms is not None and job.started_ms - job.created_ms >= 1500
    elapsed = time.monotonic() - down_since
    time.sleep(max(0.0, 6.0 - elapsed))
    # And when it returns, it resumes its duties (workers events) with nothing to repair
    start_monitor()
    assert invariants.check(raw) == {"completed": 30}


async def test_gateway_killed_under_200_clients_every_client_resumes_without_gap_or_duplicate(
    registry: Registry, raw: redis.Redis, start_service: Callable[..., Any]
) -> None:
    first = start_service("stream")
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
        start_service("stream", stream_port=port)
        for _ in range(50):
            submit(registry, "noop")
        stream_seqs = [int(f["seq"]) for _, f in raw.xrange(keys.EVENTS_STREAM, "-", "+")]  # type: ignore[union-attr]
        await eventually(
            lambda: all(c.seqs and c.seqs[-1] == stream_seqs[-1] for c in clients), timeout=60, what="resumed"
        )
        for client in clients:
            await client.stop()
        # Then each client's events are exactly the stream's, from its first: no gap, no duplicate
        for client in clients:
            assert client.connects >= 2
            assert client.seqs == [s for s in stream_seqs if s >= client.seqs[0]]
    await asyncio.sleep(0)
