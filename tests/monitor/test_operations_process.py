"""Operations run by real monitor processes: one replica at a time, resumed after a kill -9."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from typing import Any

import redis

from shared import keys, operations, transitions
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.registry import Registry
from shared.submit import submit
from tests import typed_redis
from tests.conftest import wait_for

JOBS = 3000


def fail_many(registry: Registry, count: int) -> list[str]:
    """``count`` failed jobs, pipelined through the real scripts (dispatch, start, fail)."""
    ids = [submit(registry, "noop") for _ in range(count)]
    registry.run(transitions.dispatch(Q, 1_000_000))
    scripts = registry.scripts
    for step in (
        lambda j: transitions.start(j, Q, 0, "w"),
        lambda j: transitions.fail(j, Q, 0, "w", "E: boom", "tb", "fp1", "E"),
    ):
        pipe = registry.client.pipeline(transaction=False)
        for job_id in ids:
            call = step(job_id)
            scripts._invoke(call, pipe)
        pipe.execute()
    return ids


def retry_all_failed(registry: Registry) -> str:
    op_id = "a" * 32
    made, _ = registry.run(
        operations.create(
            op_id,
            "tester",
            keys.state_key(Q, "failed"),
            {"action": "retry", "queue": Q, "filter_state": "failed", "fingerprint": "", "force": 0},
        )
    )
    return made


def test_an_operation_survives_its_monitors_kill_9_and_nothing_is_done_twice(
    registry: Registry, raw: redis.Redis, start_monitor: Callable[..., Any]
) -> None:
    # Given 2000 failed jobs and two monitor replicas running operations in small batches
    ids = fail_many(registry, JOBS)
    first = start_monitor(operation_batch=10, operation_lease_s=1.0, monitor_interval_s=5.0)
    second = start_monitor(operation_batch=10, operation_lease_s=1.0, monitor_interval_s=5.0)
    # When all failed jobs are retried, and the replica executing it is killed -9 half-way
    op_id = retry_all_failed(registry)
    op_key = keys.operation_key(op_id)

    def lease_holder_past_a_quarter() -> str | None:
        holder = typed_redis.get(raw, keys.OPERATIONS_LEASE)
        return holder if holder and int(typed_redis.hget(raw, op_key, "done") or 0) >= JOBS // 4 else None

    holder = wait_for(lease_holder_past_a_quarter, timeout=30, interval=0.002)
    victim = first if holder.split(":")[1] == str(first.process.pid) else second
    survivor = second if victim is first else first
    os.kill(victim.process.pid, signal.SIGKILL)
    victim.process.wait(timeout=10)
    done_at_kill = int(typed_redis.hget(raw, op_key, "done") or 0)
    # Then the other replica takes the lease (a new fencing token) once it expires and finishes
    wait_for(lambda: typed_redis.hget(raw, op_key, "state") == "done", timeout=60, what="operation done")
    assert done_at_kill < JOBS, "the operation ended before the kill: nothing was resumed"
    lease = typed_redis.get(raw, keys.OPERATIONS_LEASE)
    assert lease is None or str(survivor.process.pid) in lease
    assert int(typed_redis.get(raw, keys.OPERATIONS_FENCE) or 0) >= 2
    assert (
        typed_redis.hget(raw, op_key, "done") == str(JOBS) and typed_redis.hget(raw, op_key, "skipped") == "0"
    )
    # and every job was retried exactly once (one failed -> waiting entry in its timeline)
    assert registry.counts([Q])[Q]["waiting"] == JOBS
    pipe = raw.pipeline(transaction=False)
    for job_id in ids:
        pipe.hget(keys.job_key(job_id), "timeline")
    for job_id, timeline in zip(ids, pipe.execute(), strict=True):
        retries = [e for e in map(json.loads, timeline.splitlines()) if e.get("reason") == "retry"]
        assert len(retries) == 1, (job_id, timeline)
        assert retries[0]["op"] == op_id
