"""The monitor as a real process, with real worker subprocesses and a real redis-server."""

from __future__ import annotations

import os
import signal
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import redis

from shared import transitions, worker_calls
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.registry import Registry
from shared.states import JobState
from shared.submit import submit
from tests import typed_redis
from tests.conftest import EventTap
from tests.helpers import events, transitions_of
from tests.processes import wait_for


def worker_in_event(tap: EventTap, worker_id: str, status: str) -> bool:
    return any(
        w["id"] == worker_id and w["status"] == status
        for e in tap.of_type("workers")
        for w in e.data["workers"]
    )


def test_new_worker_appears_in_workers_event_within_one_tick(
    raw: redis.Redis, tap: EventTap, start_monitor: Callable[..., Any], start_worker: Callable[..., Any]
) -> None:
    # Given a monitor with the default five-second tick
    start_monitor(monitor_interval_s=5.0)
    # When a worker starts
    start_worker()
    (worker_id,) = typed_redis.zrange(raw, "fq:workers")
    # Then a workers event lists it as alive within one tick (the join is announced at once)
    wait_for(lambda: worker_in_event(tap, worker_id, "alive"), timeout=5.0, what="workers event")
    entry = next(w for e in tap.of_type("workers") for w in e.data["workers"] if w["id"] == worker_id)
    assert entry["queues"] == [Q] and entry["threads"] == 1 and entry["pid"] > 0


def test_killed_worker_job_is_completed_elsewhere_and_the_death_reported(
    registry: Registry,
    raw: redis.Redis,
    tap: EventTap,
    start_monitor: Callable[..., Any],
    start_worker: Callable[..., Any],
) -> None:
    start_monitor()
    start_worker()
    start_worker()  # both up before the job, so it is mid-run whichever takes it
    job_id = submit(registry, "sleep", {"seconds": 2.0})
    wait_for(lambda: registry.get(job_id).state is JobState.ACTIVE, what="job to start")
    victim = registry.get(job_id).worker
    os.kill(int(raw.hget(f"fq:worker:{victim}", "pid")), signal.SIGKILL)  # type: ignore[arg-type]
    killed = time.monotonic()
    wait_for(
        lambda: registry.get(job_id).state is JobState.COMPLETED, timeout=20, what="completion elsewhere"
    )
    elapsed = time.monotonic() - killed
    print(f"kill -9 to completed elsewhere: {elapsed:.2f}s (dead after {registry.settings.worker_dead_s}s)")
    job = registry.get(job_id)
    assert job.worker != victim and job.attempts == 2
    assert ("active", "waiting") in transitions_of(raw, job_id)
    wait_for(lambda: worker_in_event(tap, victim, "dead"), timeout=10, what="death reported")


def test_two_monitor_replicas_release_and_requeue_each_job_once(
    registry: Registry, raw: redis.Redis, start_monitor: Callable[..., Any]
) -> None:
    # Given two dead workers holding active jobs, and 100 jobs delayed over the next few seconds
    ghosts = {}
    for ghost in ("ghost-a", "ghost-b"):
        job_id = submit(registry, "noop", priority=0)
        registry.run(transitions.dispatch(Q, 10))
        assert registry.run(transitions.start(job_id, Q, registry.get(job_id).gen, ghost)) == "started"
        registry.run(worker_calls.worker_beat(ghost, {"pid": 1}))
        raw.zadd("fq:workers", {ghost: 0})
        ghosts[ghost] = job_id
    delayed = [submit(registry, "noop", delay_ms=2000 + 20 * i) for i in range(100)]
    # When two monitor replicas run side by side (and no worker)
    start_monitor(monitor_interval_s=0.2)
    start_monitor(monitor_interval_s=0.2)
    wait_for(lambda: registry.counts([Q])[Q]["delayed"] == 0, timeout=20, what="release")
    wait_for(lambda: registry.counts([Q])[Q]["active"] == 0, timeout=20, what="requeue")
    time.sleep(1.0)  # several more ticks of both replicas: nothing may happen twice
    # Then each job was released or requeued exactly once
    for job_id in delayed:
        assert transitions_of(raw, job_id).count(("delayed", "waiting")) == 1
    for job_id in ghosts.values():
        assert transitions_of(raw, job_id).count(("active", "waiting")) == 1
    seqs = [e["seq"] for e in events(raw)]
    assert seqs == list(range(1, len(seqs) + 1))


def test_delayed_job_is_released_on_time_with_no_worker_fetching(
    registry: Registry, raw: redis.Redis, start_monitor: Callable[..., Any]
) -> None:
    # Given a monitor with a long tick (20 s: a release by the tick alone would come seconds late),
    # already asleep on a far-away eta
    monitor = start_monitor(monitor_interval_s=20.0)
    submit(registry, "noop", delay_ms=60_000)
    # (part of the scenario, not a settle: the monitor gets the time to go to sleep on the far eta;
    # nothing shows it did, and were it still awake the test would only be easier)
    time.sleep(0.3)
    # When a job is delayed by one second
    job_id = submit(registry, "noop", delay_ms=1000)
    eta = registry.get(job_id).eta_ms
    # Then it is released at its eta, not at the next tick (a few hundred ms on a quiet machine;
    # the bound leaves room for a loaded one, where 570 ms was seen, and stays far below the tick)
    wait_for(lambda: registry.get(job_id).state is JobState.WAITING, timeout=10, what="release")
    released = next(
        e
        for e in events(raw)
        if e["type"] == "job" and e["data"]["job"] == job_id and e["data"]["to"] == "waiting"
    )
    lateness_ms = int(released["id"].split("-")[0]) - eta  # type: ignore[operator]
    assert 0 <= lateness_ms < 2000, lateness_ms
    # and the monitor's gauges agree with the registry
    port = monitor.settings.monitor_port

    def gauge_matches() -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            body = r.read().decode()
        counts = registry.counts([Q])[Q]
        return all(
            f'facequeue_queue_jobs{{queue="{Q}",state="{s}"}} {float(n)}' in body for s, n in counts.items()
        )

    wait_for(gauge_matches, timeout=30, interval=0.5, what="gauges to match")
