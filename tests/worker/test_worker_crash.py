"""A worker killed with SIGKILL mid-job loses nothing and duplicates nothing."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

import redis

from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.registry import Registry
from shared.states import JobState
from shared.submit import submit
from tests.helpers import state_total, transitions_of
from tests.processes import wait_for


def test_killed_worker_job_completes_exactly_once_on_another_worker(
    registry: Registry, raw: redis.Redis, start_worker: Callable[..., Any]
) -> None:
    # Given two single-threaded workers and a long job running on one of them, more queued behind it
    # (both start first: a worker starting while the job runs could outlast it on a busy machine)
    groups = [start_worker(worker_threads=1), start_worker(worker_threads=1)]
    long_job = submit(registry, "sleep", {"seconds": 2.0})
    wait_for(lambda: registry.get(long_job).state is JobState.ACTIVE, what="long job to start")
    others = [submit(registry, "sleep", {"seconds": 0.05}) for _ in range(8)]
    victim_id = registry.get(long_job).worker
    victim_pid = int(raw.hget(f"fq:worker:{victim_id}", "pid"))  # type: ignore[arg-type]
    (second,) = [group for group in groups if victim_pid not in group.child_pids()]
    # When that worker process is killed with SIGKILL mid-job
    os.kill(victim_pid, signal.SIGKILL)
    # Then the survivor reaps it and the job completes, exactly once, on the survivor
    wait_for(lambda: registry.get(long_job).state is JobState.COMPLETED, timeout=30, what="recovery")
    wait_for(lambda: registry.counts([Q])[Q]["completed"] == 9, timeout=30, what="all jobs")
    job = registry.get(long_job)
    survivor_ids = set(raw.zrange("fq:workers", 0, -1))
    assert job.worker in survivor_ids and job.worker != victim_id
    assert any(str(pid) == raw.hget(f"fq:worker:{job.worker}", "pid") for pid in second.child_pids())
    assert transitions_of(raw, long_job) == [
        (None, "waiting"),
        ("waiting", "active"),
        ("active", "waiting"),
        ("waiting", "active"),
        ("active", "completed"),
    ]
    assert job.attempts == 2
    for job_id in others:
        assert [t for t in transitions_of(raw, job_id) if t[1] == "completed"] == [("active", "completed")]
    # and counts stay consistent: every job in exactly one state
    assert state_total(registry.counts([Q])) == 9
    assert raw.hget(f"fq:worker:{victim_id}", "status") == "dead"  # listed as dead for a while
    assert raw.zscore("fq:workers", victim_id) is None
    assert not raw.keys(f"dramatiq:__acks__.{victim_id}.*")
