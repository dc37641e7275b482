"""Failure groups stay exact at scale (issue 20): 100,000 failures of five causes, recorded by the
same scripts a worker runs, then one group retried as an operation (``make soak``: ~1 minute)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
import redis

from shared import keys, transitions
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.config import Settings
from shared.registry import Registry
from shared.submit import submit_call
from tests import typed_redis
from tests.api.test_operations import run_all
from tests.reliability.conftest import record_figure
from tests.worker.test_failure_groups import retry_group

JOBS = 100_000
#: (fingerprint, exception) of the five causes; job n fails with cause n % 5.
CAUSES = [
    (f"scale-{n}", exc) for n, exc in enumerate(("KeyError", "ValueError", "OSError", "E", "TimeoutError"))
]
#: Calls per pipelined round trip.
CHUNK = 1_000


def chunks(items: list[str]) -> Iterator[list[str]]:
    for at in range(0, len(items), CHUNK):
        yield items[at : at + CHUNK]


@pytest.mark.soak
def test_100000_failures_of_five_causes_group_exactly_and_one_group_retries_alone(
    registry: Registry, raw: redis.Redis, settings: Settings
) -> None:
    started = time.monotonic()
    # Given 100,000 jobs, started and failed through the worker's own scripts, five causes in turn
    ids: list[str] = []
    for _ in range(0, JOBS, CHUNK):
        made = [submit_call("noop", settings=settings) for _ in range(CHUNK)]
        registry.run_many([call for _, call in made])
        ids += [job_id for job_id, _ in made]
    registry.run(transitions.dispatch(Q, JOBS))
    cause = {job_id: CAUSES[n % len(CAUSES)] for n, job_id in enumerate(ids)}
    for chunk in chunks(ids):
        assert set(registry.run_many([transitions.start(j, Q, 0, "w") for j in chunk])) == {"started"}
        fails = [
            transitions.fail(j, Q, 0, "w", f"{cause[j][1]}: job {j} at 0x{n:x}", "tb", *cause[j])
            for n, j in enumerate(chunk)
        ]
        assert all(registry.run_many(fails))
    loaded_s = time.monotonic() - started
    # Then each cause is one group, whose count, job set and record agree exactly
    per_cause = JOBS // len(CAUSES)
    assert raw.zcard(keys.state_key(Q, "failed")) == JOBS
    assert sorted(typed_redis.zrange(raw, keys.failure_groups_key(Q), 0, -1)) == sorted(
        fp for fp, _ in CAUSES
    )
    for fp, exc in CAUSES:
        group = typed_redis.hgetall(raw, keys.failure_group_key(Q, fp))
        assert (int(group["count"]), group["exception"]) == (per_cause, exc)
        assert raw.zcard(keys.failure_group_jobs_key(Q, fp)) == per_cause
    # When one group is retried as an operation
    target_fp = CAUSES[1][0]
    retry_group(registry, "c" * 32, target_fp)
    retry_started = time.monotonic()
    asyncio.run(run_all(settings, batch=settings.operation_batch))
    retry_s = time.monotonic() - retry_started
    # Then exactly its jobs are waiting, its group is gone, and every other group is untouched
    waiting = set(typed_redis.zrange(raw, keys.state_key(Q, "waiting"), 0, -1))
    assert waiting == {j for j in ids if cause[j][0] == target_fp}
    assert raw.zcard(keys.state_key(Q, "failed")) == JOBS - per_cause
    assert not raw.exists(keys.failure_group_key(Q, target_fp))
    for fp, _ in CAUSES:
        if fp != target_fp:
            assert typed_redis.hget(raw, keys.failure_group_key(Q, fp), "count") == str(per_cause)
            assert raw.zcard(keys.failure_group_jobs_key(Q, fp)) == per_cause
    record_figure(
        "failure_groups_at_scale", jobs=JOBS, loaded_s=round(loaded_s, 1), retry_group_s=round(retry_s, 1)
    )
