"""Retention: queue_trim.lua and per-queue policies against a real redis-server."""

from __future__ import annotations

import json

import pytest
import redis
from prometheus_client import CollectorRegistry

from services.monitor.retention import enforce
from shared import transitions
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.config import Settings
from shared.metrics import MonitorMetrics
from shared.registry import AsyncRegistry, Registry
from shared.retention import TRIM_BATCH, Retention, read_policy, set_policy, trim
from shared.states import JobState
from shared.submit import submit
from tests import typed_redis
from tests.helpers import transitions_of

W = "w1"


def finish(registry: Registry, state: JobState, n: int) -> list[str]:
    """``n`` jobs driven to completed or failed, oldest first."""
    ids = []
    for _ in range(n):
        job_id = submit(registry, "noop")
        registry.run(transitions.dispatch(Q, 1000))
        registry.run(transitions.start(job_id, Q, 0, W))
        if state is JobState.COMPLETED:
            assert registry.run(transitions.complete(job_id, Q, 0, W, "1"))
        else:
            assert registry.run(transitions.fail(job_id, Q, 0, W, "Boom: x", "tb"))
        ids.append(job_id)
    return ids


def test_trim_removes_the_oldest_beyond_the_count(registry: Registry, raw: redis.Redis) -> None:
    ids = finish(registry, JobState.COMPLETED, 5)
    assert registry.run(trim(Q, JobState.COMPLETED, 3, 0)) == 2
    assert raw.zrange(f"fq:q:{Q}:completed", 0, -1) == ids[2:]
    assert raw.zscore("fq:jobs", ids[0]) is None and raw.zscore("fq:jobs", ids[2]) == 0
    assert transitions_of(raw, ids[0])[-1] == ("completed", None)
    # and does nothing once within bounds
    assert registry.run(trim(Q, JobState.COMPLETED, 3, 0)) == 0


def test_trim_removes_what_finished_before_the_cutoff(registry: Registry, raw: redis.Redis) -> None:
    ids = finish(registry, JobState.FAILED, 4)
    cutoff = int(raw.zscore(f"fq:q:{Q}:failed", ids[1]) or 0) + 1  # ids[0] and ids[1] are older
    removed = registry.run(trim(Q, JobState.FAILED, 100, cutoff))
    left = raw.zrange(f"fq:q:{Q}:failed", 0, -1)
    assert (
        removed == 4 - len(left)
        and left == ids[4 - len(left) :]
        and ids[0] not in left
        and ids[1] not in left
    )


def test_trim_works_in_short_batches(registry: Registry, raw: redis.Redis) -> None:
    finish(registry, JobState.COMPLETED, TRIM_BATCH + 20)
    assert registry.run(trim(Q, JobState.COMPLETED, 0, 0)) == TRIM_BATCH
    assert registry.run(trim(Q, JobState.COMPLETED, 0, 0)) == 20
    assert registry.counts([Q])[Q]["completed"] == 0


def test_trim_is_only_for_finished_states() -> None:
    with pytest.raises(ValueError):
        Retention(1, 1, 1, 1).keep(JobState.WAITING)


async def test_a_queue_policy_overrides_the_defaults_is_audited_and_cleared(
    settings: Settings, registry: Registry, raw: redis.Redis
) -> None:
    areg = AsyncRegistry(settings)
    try:
        assert await read_policy(areg, Q) == (Retention.defaults(settings), False)
        own = Retention(completed_age_s=60.0, completed_count=2, failed_age_s=3600.0, failed_count=1)
        registry.run(set_policy(Q, own, who="admin"))
        assert await read_policy(areg, Q) == (own, True)
        (entry,) = [f for _, f in typed_redis.xrange(raw, "fq:audit")]
        assert entry["action"] == "retention" and entry["who"] == "admin"
        assert json.loads(entry["target"]) == own.to_dict()
        registry.run(set_policy(Q, None, who="admin"))
        assert await read_policy(areg, Q) == (Retention.defaults(settings), False)
    finally:
        await areg.close()


async def test_the_monitor_enforces_each_queues_policy(
    settings: Settings, registry: Registry, raw: redis.Redis
) -> None:
    # Given a queue keeping 2 completed and 1 failed job, and more of both
    registry.run(set_policy(Q, Retention(86_400.0, 2, 86_400.0, 1), who="admin"))
    done = finish(registry, JobState.COMPLETED, 5)
    failed = finish(registry, JobState.FAILED, 3)
    areg = AsyncRegistry(settings)
    metrics = CollectorRegistry()
    try:
        # When the monitor enforces retention
        removed = await enforce(areg, MonitorMetrics(metrics), [Q], await areg.now_ms())
    finally:
        await areg.close()
    # Then only the newest of each are left, and the metric counts what went
    assert removed == 5
    assert raw.zrange(f"fq:q:{Q}:completed", 0, -1) == done[3:]
    assert raw.zrange(f"fq:q:{Q}:failed", 0, -1) == failed[2:]
    value = metrics.get_sample_value
    assert value("facequeue_monitor_trimmed_jobs_total", {"queue": Q, "state": "completed"}) == 3
    assert value("facequeue_monitor_trimmed_jobs_total", {"queue": Q, "state": "failed"}) == 2
