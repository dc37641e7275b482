"""The monitor's tick, against a real redis-server."""

from __future__ import annotations

import redis
from prometheus_client import CollectorRegistry

from services.monitor.loop import MonitorLoop
from shared import transitions
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.config import Settings
from shared.registry import AsyncRegistry, Registry
from shared.states import JobState
from shared.submit import submit
from tests.conftest import wait_for


async def test_tick_releases_due_jobs_reaps_dead_workers_and_exports_depths(
    settings: Settings, registry: Registry, raw: redis.Redis
) -> None:
    # Given a due delayed job and an active job on a worker that stopped beating
    running = submit(registry, "noop")
    registry.run(transitions.dispatch(Q, 10))
    registry.run(transitions.start(running, Q, 0, "ghost"))
    delayed = submit(registry, "noop", delay_ms=50)
    registry.run(transitions.worker_beat("ghost", {"pid": 1}))
    raw.zadd("fq:workers", {"ghost": 0})  # its last beat: long ago
    wait_for(lambda: raw.time()[0] * 1000 > registry.get(delayed).eta_ms, what="eta")  # type: ignore[operator]
    metrics = CollectorRegistry()
    loop = MonitorLoop(settings, AsyncRegistry(settings), metrics)
    # When the monitor ticks
    await loop.tick()
    await loop.registry.close()
    # Then the delayed job is waiting, the ghost's job is back to waiting and the ghost is gone
    assert registry.get(delayed).state is JobState.WAITING
    job = registry.get(running)
    assert (job.state, job.gen) == (JobState.WAITING, 1)
    assert not raw.exists("fq:worker:ghost")
    assert metrics.get_sample_value("facequeue_queue_jobs", {"queue": Q, "state": "waiting"}) == 2
    assert metrics.get_sample_value("facequeue_monitor_workers_alive") == 0
