"""Failure groups from a real Dramatiq worker raising different exceptions (issue 20)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import redis

from shared import keys, operations
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.config import Settings
from shared.registry import Registry
from shared.submit import submit
from tests import typed_redis
from tests.api.test_operations import run_all
from tests.conftest import wait_for

#: Jobs per cause; the "message" varies within a cause (ids, numbers), the cause does not.
PER_CAUSE = {"canary": 8, "value": 6, "key": 5, "timeout": 4, "runtime": 3}


def retry_group(registry: Registry, op_id: str, fingerprint: str) -> None:
    """Create the operation that retries one failure group of the queue (as the API would)."""
    fields: dict[str, str | int] = {
        "action": "retry",
        "queue": Q,
        "filter_state": "failed",
        "fingerprint": fingerprint,
        "force": 0,
    }
    registry.run(operations.create(op_id, "tester", keys.failure_group_jobs_key(Q, fingerprint), fields))


def test_a_real_worker_groups_failures_by_cause_exactly_and_one_group_is_retried_alone(
    registry: Registry, raw: redis.Redis, start_worker: Callable[..., Any], settings: Settings
) -> None:
    # Given a worker and jobs failing for five causes, each with varying messages
    start_worker(worker_threads=4)
    by_kind: dict[str, set[str]] = {}
    for kind, count in PER_CAUSE.items():
        by_kind[kind] = {
            submit(registry, "fail", {"message": f"job {n} at 0x{n * 4096:x}", "kind": kind}, max_retries=0)
            for n in range(count)
        }
    total = sum(PER_CAUSE.values())
    # When every job has failed
    wait_for(lambda: raw.zcard(keys.state_key(Q, "failed")) == total, timeout=60, what="all failed")
    # Then there is one group per cause, counting exactly that cause's jobs
    fingerprints = typed_redis.zrange(raw, keys.failure_groups_key(Q), 0, -1)
    assert len(fingerprints) == len(PER_CAUSE)
    members = {
        fp: set(typed_redis.zrange(raw, keys.failure_group_jobs_key(Q, fp), 0, -1)) for fp in fingerprints
    }
    assert sorted(members.values(), key=len) == sorted(by_kind.values(), key=len)
    groups = {fp: typed_redis.hgetall(raw, keys.failure_group_key(Q, fp)) for fp in fingerprints}
    assert {g["exception"] for g in groups.values()} == {
        "services.worker.actors.diagnostics.CanaryFailure",
        "ValueError",
        "KeyError",
        "TimeoutError",
        "RuntimeError",
    }
    assert all(int(g["count"]) == len(members[fp]) and g["actor"] == "fail" for fp, g in groups.items())
    # and every failed job names its group on its record
    for fp, jobs in members.items():
        assert {registry.get(j).id for j in jobs} == jobs
        assert {typed_redis.hget(raw, keys.job_key(j), "fingerprint") for j in jobs} == {fp}
    # When the ValueError group is retried as an operation (while the worker runs)
    value_fp = next(fp for fp, g in groups.items() if g["exception"] == "ValueError")
    retry_group(registry, "b" * 32, value_fp)
    asyncio.run(run_all(settings, batch=4))
    # Then only its jobs were retried (and fail again into the same group); the others are untouched
    retried = set()
    for job_id in set().union(*by_kind.values()):
        timeline = typed_redis.hget(raw, keys.job_key(job_id), "timeline") or ""
        if any(json.loads(line).get("reason") == "retry" for line in timeline.splitlines()):
            retried.add(job_id)
    assert retried == by_kind["value"]
    wait_for(
        lambda: raw.zcard(keys.state_key(Q, "failed")) == total, timeout=60, what="retried jobs failed again"
    )
    assert typed_redis.hget(raw, keys.failure_group_key(Q, value_fp), "count") == str(PER_CAUSE["value"])
