"""One monitor tick, in-process against a real redis-server."""

from __future__ import annotations

import dataclasses
import math

import pytest
import redis
from prometheus_client import CollectorRegistry

from services.monitor.tick import Monitor, drain_seconds
from shared import reads, transitions, worker_calls
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.config import Settings
from shared.history import Sample
from shared.metrics import MonitorMetrics
from shared.registry import AsyncRegistry, Registry
from shared.states import JobState
from shared.submit import submit
from tests import typed_redis
from tests.conftest import EventTap
from tests.processes import wait_for


def held_by_a_dead_worker(registry: Registry, raw: redis.Redis, job_id: str) -> None:
    """``job_id`` (dispatched) started by worker "ghost", whose last beat was long ago."""
    registry.run(transitions.start(job_id, Q, 0, "ghost"))
    registry.run(worker_calls.worker_beat("ghost", {"pid": 1, "threads": 4}))
    raw.zadd("fq:workers", {"ghost": 0})


def due_delayed_job(registry: Registry, raw: redis.Redis) -> str:
    """A delayed job whose time came a second ago on Redis's clock."""
    delayed = submit(registry, "noop", delay_ms=50)
    wait_for(lambda: raw.time()[0] * 1000 > registry.get(delayed).eta_ms + 1000, what="eta")  # type: ignore[operator]
    return delayed


def new_monitor(settings: Settings) -> tuple[Monitor, CollectorRegistry]:
    """A monitor on its own registry connection, and the metrics it exports."""
    metrics = CollectorRegistry()
    return Monitor(settings, AsyncRegistry(settings), MonitorMetrics(metrics)), metrics


@pytest.mark.parametrize(
    ("backlog", "rate", "expected"), [(0, 0.0, 0.0), (10, 0.0, math.inf), (10, 2.0, 5.0), (0, 3.0, 0.0)]
)
def test_drain_estimate(backlog: int, rate: float, expected: float) -> None:
    assert drain_seconds(backlog, rate) == expected


async def test_tick_releases_reaps_exports_announces_and_samples(
    settings: Settings, registry: Registry, raw: redis.Redis, tap: EventTap
) -> None:
    # Given a due delayed job, a finished job, and an active job on a worker that stopped beating
    running = submit(registry, "noop")
    done = submit(registry, "noop", priority=0)
    registry.run(transitions.dispatch(Q, 10))
    registry.run(transitions.start(done, Q, 0, "ghost"))
    registry.run(transitions.complete(done, Q, 0, "ghost", "1"))
    held_by_a_dead_worker(registry, raw, running)
    waiting = submit(registry, "noop", priority=9)
    delayed = due_delayed_job(registry, raw)
    monitor, metrics = new_monitor(settings)
    # When the monitor ticks
    await monitor.tick()
    # Then the delayed job is waiting, the ghost's job is back to waiting and the ghost listed dead
    assert registry.get(delayed).state is JobState.WAITING
    job = registry.get(running)
    assert (job.state, job.gen) == (JobState.WAITING, 1)
    assert raw.hget("fq:worker:ghost", "status") == "dead"
    # and the gauges match the registry
    counts = registry.counts([Q])[Q]

    def gauge(name: str, **labels: str) -> float | None:
        return metrics.get_sample_value(name, labels)

    for state, n in counts.items():
        assert gauge("facequeue_queue_jobs", queue=Q, state=state) == n
    assert gauge("facequeue_queue_throughput_per_second", queue=Q, outcome="completed") == pytest.approx(
        1 / 60
    )
    oldest = min(registry.get(j).enqueued_ms for j in (running, waiting, delayed))
    assert gauge("facequeue_queue_oldest_waiting_seconds", queue=Q) == pytest.approx(
        (int(raw.time()[0]) * 1000 - oldest) / 1000, abs=2
    )
    assert gauge("facequeue_queue_drain_seconds", queue=Q) == pytest.approx(counts["waiting"] * 60)
    assert gauge("facequeue_workers", status="dead") == 1
    assert gauge("facequeue_monitor_reaped_workers_total") == 1
    # and the worker list went out as an event, the ghost in it as dead
    wait_for(lambda: tap.of_type("workers"), what="workers event")
    (ghost,) = tap.of_type("workers")[-1].data["workers"]
    assert (ghost["id"], ghost["status"], ghost["active"]) == ("ghost", "dead", 0)
    # and this minute was sampled, once, however many replicas tick
    entries = typed_redis.xrange(raw, "fq:history")
    assert len(entries) == 1
    sample = Sample.from_entry(*entries[0])
    assert sample.counts[Q] == counts and sample.completed[Q] == 1
    health = await monitor.registry.run(reads.queue_health([Q], 60_000))
    assert not await monitor.sample_history(health, sample.minute_ms + 59_999)  # same minute: refused
    assert await monitor.sample_history(health, sample.minute_ms + 60_000)  # next minute: recorded
    assert len(typed_redis.xrange(raw, "fq:history")) == 2
    await monitor.registry.close()


@pytest.mark.parametrize("wrong_key", ["fq:q:broken:waiting", "fq:q:broken:active", "dramatiq:broken"])
async def test_a_queue_whose_key_has_the_wrong_type_is_skipped_and_the_others_are_served(
    settings: Settings, registry: Registry, raw: redis.Redis, wrong_key: str
) -> None:
    # Given a registered queue with one key of the wrong type (WRONGTYPE on every script that reads it)
    raw.sadd("fq:queues", "broken")
    raw.set(wrong_key, "a string, not a set or list")
    # and a due delayed job on a healthy queue, and a dead worker holding one of its jobs
    running = submit(registry, "noop")
    registry.run(transitions.dispatch(Q, 10))
    held_by_a_dead_worker(registry, raw, running)
    delayed = due_delayed_job(registry, raw)
    monitor, metrics = new_monitor(settings)
    # When the monitor ticks
    await monitor.tick()
    # Then the healthy queue's job was released, its gauges exported and the minute sampled
    assert registry.get(delayed).state is JobState.WAITING
    assert metrics.get_sample_value("facequeue_queue_jobs", {"queue": Q, "state": "waiting"}) is not None
    assert len(typed_redis.xrange(raw, "fq:history")) == 1
    # and the dead worker was reaped, its job back to waiting
    assert registry.get(running).state is JobState.WAITING
    assert raw.hget("fq:worker:ghost", "status") == "dead"
    # and the broken queue counted as an error, not the tick
    assert (metrics.get_sample_value("facequeue_monitor_tick_errors_total") or 0) >= 1
    assert metrics.get_sample_value("facequeue_queue_jobs", {"queue": "broken", "state": "waiting"}) is None
    await monitor.registry.close()


async def test_an_unchanged_worker_list_is_announced_only_on_refresh(
    settings: Settings, registry: Registry, tap: EventTap
) -> None:
    # Given a worker beating (every 5 s: alive throughout), and a monitor whose refresh is 2 s
    own = dataclasses.replace(settings, workers_refresh_s=2.0, heartbeat_interval_s=5.0, worker_dead_s=15.0)
    monitor, metrics = new_monitor(own)

    def announced() -> float:
        return metrics.get_sample_value("facequeue_monitor_workers_events_total", {"reason": "tick"}) or 0

    registry.run(worker_calls.worker_beat("w1", {"pid": 1, "threads": 2, "processed": 0}))
    now = registry.now_ms()
    await monitor.announce_workers(now, reason="tick")
    assert announced() == 1
    # When it ticks again with only the beat time changed, nothing is announced
    registry.run(worker_calls.worker_beat("w1", {"pid": 1, "threads": 2, "processed": 0}))
    await monitor.announce_workers(now + 500, reason="tick")
    assert announced() == 1
    # but a change (a job processed) is announced at the next tick
    registry.run(worker_calls.worker_beat("w1", {"pid": 1, "threads": 2, "processed": 1}))
    await monitor.announce_workers(now + 1000, reason="tick")
    assert announced() == 2
    # and the unchanged list again once the refresh is due
    await monitor.announce_workers(now + 1500, reason="tick")
    assert announced() == 2
    await monitor.announce_workers(now + 3100, reason="tick")
    assert announced() == 3
    wait_for(lambda: len(tap.of_type("workers")) == 3, what="three workers events")
    assert tap.of_type("workers")[-1].data["workers"][0]["processed"] == 1
    await monitor.registry.close()
