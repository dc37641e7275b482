"""Priority order and the pause gate, on real worker subprocesses."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis

from shared import actions
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.registry import Registry
from shared.states import JobState
from shared.submit import submit
from tests import typed_redis
from tests.helpers import events, state_total, transitions_of
from tests.processes import wait_for


def start_order(raw: redis.Redis, after_seq: int = 0) -> list[str]:
    return [
        e["data"]["job"]
        for e in events(raw)
        if e["type"] == "job" and e["data"]["to"] == "active" and e["seq"] > after_seq
    ]


def creation_seq(raw: redis.Redis, job_id: str) -> int:
    return next(int(e["seq"]) for e in events(raw) if e["type"] == "job" and e["data"]["job"] == job_id)


#: Messages a single-threaded worker may hold beyond the one it runs (Dramatiq prefetches 2 per thread).
PREFETCH = 2


def test_high_priority_jobs_overtake_waiting_low_priority_ones(
    registry: Registry, raw: redis.Redis, start_worker: Callable[..., Any]
) -> None:
    # Given one single-threaded worker busy with 50 priority-9 jobs
    start_worker(worker_threads=1)
    low = [submit(registry, "sleep", {"seconds": 0.05}, priority=9) for _ in range(50)]
    # When 5 priority-0 jobs arrive after them
    high = [submit(registry, "sleep", {"seconds": 0.05}, priority=0) for _ in range(5)]
    wait_for(lambda: registry.counts([Q])[Q]["completed"] == 55, timeout=90, what="all jobs")
    # Then, of the jobs started after the five arrived, only the low ones the worker had
    # already prefetched precede them; every other low job waits until all five ran.
    assert sorted(start_order(raw)) == sorted(low + high)
    later = start_order(raw, after_seq=creation_seq(raw, high[-1]))
    positions = sorted(later.index(j) for j in high)
    assert positions == list(range(positions[0], positions[0] + 5)), "the five ran back to back"
    assert positions[0] <= PREFETCH, f"{positions[0]} low jobs overtook the high-priority ones"
    rest = later[positions[-1] + 1 :]
    assert rest == [j for j in low if j in rest], "low-priority jobs keep their FIFO order"
    assert len(rest) > 30  # the scenario really had a backlog when the five arrived


def test_pause_stops_new_jobs_within_a_second_and_resume_restarts_them(
    registry: Registry, raw: redis.Redis, start_worker: Callable[..., Any]
) -> None:
    # Given a worker with two threads running a backlog of short jobs
    start_worker(worker_threads=2)
    ids = [submit(registry, "sleep", {"seconds": 0.3}) for _ in range(16)]
    wait_for(lambda: registry.counts([Q])[Q]["completed"] >= 2, what="some progress")
    # When the queue is paused
    registry.run(actions.pause(Q))
    pause_seq = max(e["seq"] for e in events(raw) if e["type"] == "pause")
    # Then running jobs finish and nothing new starts: job_start.lua checks the pause atomically,
    # so no start can be recorded after the pause event.
    wait_for(lambda: registry.counts([Q])[Q]["active"] == 0, timeout=10, what="running jobs to finish")
    assert start_order(raw, after_seq=pause_seq) == []
    started_after_grace = len(start_order(raw))
    time.sleep(1.0)  # observe a quiet period: no start may happen in it
    assert len(start_order(raw)) == started_after_grace
    counts = registry.counts([Q])[Q]
    assert counts["waiting"] > 0 and counts["active"] == 0
    # When resumed, Then every job completes, each exactly once
    registry.run(actions.resume(Q))
    wait_for(lambda: registry.counts([Q])[Q]["completed"] == 16, timeout=30, what="all jobs after resume")
    for job_id in ids:
        assert transitions_of(raw, job_id).count(("waiting", "active")) == 1
        assert registry.get(job_id).attempts == 1
    assert state_total(registry.counts([Q])) == 16


def test_job_deleted_or_reprioritised_after_dispatch_never_runs_its_stale_copy(
    registry: Registry, raw: redis.Redis, start_worker: Callable[..., Any]
) -> None:
    # Given a two-threaded worker busy with two long jobs, having prefetched the next two
    start_worker(worker_threads=2)
    blocker = submit(registry, "sleep", {"seconds": 1.5})
    submit(registry, "sleep", {"seconds": 1.5})
    doomed = submit(registry, "sleep", {"seconds": 0.01})
    moved = submit(registry, "sleep", {"seconds": 0.01})
    wait_for(lambda: registry.get(blocker).state is JobState.ACTIVE, what="blocker to start")
    dispatched = f"fq:q:{Q}:dispatched"
    wait_for(lambda: raw.zscore(dispatched, doomed) and raw.zscore(dispatched, moved), what="dispatch")
    # When one is deleted and the other re-prioritised while their copies sit in the worker
    registry.run(actions.delete(doomed, Q))
    registry.run(actions.set_priority(moved, Q, 1))
    # Then the deleted one never starts and the moved one runs exactly once, from its new copy
    wait_for(lambda: registry.get(moved).state is JobState.COMPLETED, timeout=20, what="moved job")
    wait_for(lambda: registry.get(blocker).state is JobState.COMPLETED, what="blocker")
    assert ("waiting", "active") not in transitions_of(raw, doomed)
    assert transitions_of(raw, moved).count(("waiting", "active")) == 1
    job = registry.get(moved)
    assert (job.attempts, job.gen) == (1, 1)
    assert not raw.zrange(dispatched, 0, -1)


def test_paused_worker_keeps_both_heartbeats_fresh(
    registry: Registry, raw: redis.Redis, start_worker: Callable[..., Any]
) -> None:
    # Given a worker on a paused queue (its consumer fetches nothing)
    registry.run(actions.pause(Q))
    start_worker()
    (worker_id,) = typed_redis.zrange(raw, "fq:workers")
    first = raw.zscore("dramatiq:__heartbeats__", worker_id)
    # Then its facequeue and Dramatiq heartbeats still advance, so nothing treats it as dead
    wait_for(lambda: (raw.zscore("dramatiq:__heartbeats__", worker_id) or 0) > (first or 0), what="beat")
    pipe = raw.pipeline(transaction=True)  # one beat writes both atomically; read both atomically too
    pipe.zscore("fq:workers", worker_id)
    pipe.zscore("dramatiq:__heartbeats__", worker_id)
    ours, dramatiqs = pipe.execute()
    assert ours == dramatiqs


def test_an_idle_worker_is_woken_by_a_submission_instead_of_polling(
    registry: Registry, raw: redis.Redis, start_worker: Callable[..., Any]
) -> None:
    # Given a worker idle on a queue, polling only every 5 s: its consumer fetched (and found
    # nothing), which its Dramatiq heartbeat shows
    start_worker(worker_idle_poll_ms=5000)
    (worker_id,) = typed_redis.zrange(raw, "fq:workers")
    wait_for(lambda: raw.zscore("dramatiq:__heartbeats__", worker_id), what="its first fetch")
    # When five jobs are submitted one after another, each once the previous is done
    ids = []
    for _ in range(5):
        job_id = submit(registry, "noop")
        ids.append(job_id)

        def ran(j: str = job_id) -> bool:
            return registry.get(j).state is JobState.COMPLETED

        wait_for(ran, timeout=30, what="a run")
    # Then each started at once (as Redis's clock saw it: enqueued to started), where polling
    # alone would wait 2.5 s on average and under 1.5 s for all five once in 400 runs
    waits = [(job.started_ms or 0) - job.enqueued_ms for job in map(registry.get, ids)]
    assert max(waits) < 1500, waits
