"""Bulk actions, clean, stats and audit over real HTTP against a real redis-server."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from aiohttp.test_utils import TestClient

from shared import actions, keys, transitions
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.registry import Registry
from shared.states import JobState
from shared.submit import submit
from tests import typed_redis
from tests.api.conftest import ADMIN, VIEWER
from tests.helpers import snapshot

#: Slowest single Redis command tolerated during bulk work, in microseconds (SLOWLOG threshold).
#: A 1000-job batch takes ~10 ms here; the margin absorbs a busy CI machine, while one call
#: doing all 10,000 jobs would still show (it takes ten times a batch).
SLOW_US = 250_000


def fail_jobs(registry: Registry, count: int) -> list[str]:
    ids = [submit(registry, "noop") for _ in range(count)]
    registry.run(transitions.dispatch(Q, count))
    for job_id in ids:
        registry.run(transitions.start(job_id, Q, 0, "w"))
        registry.run(transitions.fail(job_id, Q, 0, "w", "E: boom", "tb"))
    return ids


async def test_bulk_delete_and_promote_10000_jobs_in_short_batches(
    api: TestClient[Any, Any], registry: Registry, raw: redis.Redis
) -> None:
    # Given 10,000 delayed jobs and a Redis that logs any command slower than 50 ms
    ids = [submit(registry, "noop", delay_ms=3_600_000) for _ in range(10_000)]
    raw.config_set("slowlog-log-slower-than", SLOW_US)
    raw.slowlog_reset()
    # When all are promoted by id, then all deleted by filter
    promoted = await api.post("/api/v1/jobs/bulk", json={"action": "promote", "ids": ids}, headers=ADMIN)
    assert await promoted.json() == {"matched": 10_000, "done": 10_000, "skipped": 0}
    assert registry.counts([Q])[Q]["waiting"] == 10_000
    deleted = await api.post(
        "/api/v1/jobs/bulk",
        json={"action": "delete", "filter": {"queue": Q, "state": "waiting"}},
        headers=ADMIN,
    )
    assert await deleted.json() == {"matched": 10_000, "done": 10_000, "skipped": 0}
    # Then nothing is left, progress went out per batch, and no Redis call was slow
    assert registry.counts([Q])[Q] == {s.value: 0 for s in JobState}
    assert not raw.keys("fq:job:*")
    admin_events = [f for _, f in typed_redis.xrange(raw, "fq:events") if f["type"] == "admin"]
    assert len(admin_events) == 20  # ten batches of 1000 for each action
    assert all(json.loads(f["data"])["count"] <= 1000 for f in admin_events)
    assert raw.slowlog_get() == [], raw.slowlog_get()
    raw.config_set("slowlog-log-slower-than", 10_000)
    audit = await (await api.get("/api/v1/audit", params={"limit": "1000"}, headers=VIEWER)).json()
    assert sum(e["count"] for e in audit["entries"] if e["action"] == "delete") == 10_000
    assert {e["who"] for e in audit["entries"]} == {"FQ_ADMIN_TOKEN"}


async def test_bulk_retry_by_filter_and_by_ids_counts_skips(
    api: TestClient[Any, Any], registry: Registry
) -> None:
    failed = fail_jobs(registry, 1200)
    waiting = submit(registry, "noop")
    by_ids = await api.post(
        "/api/v1/jobs/bulk",
        json={"action": "retry", "ids": [*failed[:10], waiting, "unknown"]},
        headers=ADMIN,
    )
    assert await by_ids.json() == {"matched": 12, "done": 10, "skipped": 2}
    by_filter = await api.post(
        "/api/v1/jobs/bulk",
        json={"action": "retry", "filter": {"queue": Q, "state": "failed"}},
        headers=ADMIN,
    )
    assert await by_filter.json() == {"matched": 1190, "done": 1190, "skipped": 0}
    assert registry.counts([Q])[Q]["waiting"] == 1201


@pytest.mark.parametrize(
    "body",
    [
        {"action": "retry"},
        {"action": "retry", "ids": [], "filter": {"queue": Q, "state": "failed"}},
        {"action": "retry", "ids": []},
        {"action": "retry", "ids": None, "filter": None},
        {"action": "retry", "ids": ["x"], "force": 1},
        {"action": "explode", "ids": ["x"]},
        {"action": "delete", "ids": ["x" * 65]},
        {"action": "delete", "filter": {"queue": "bad queue", "state": "waiting"}},
    ],
)
async def test_invalid_bulk_requests_are_422_and_change_nothing(
    api: TestClient[Any, Any], registry: Registry, raw: redis.Redis, body: dict[str, Any]
) -> None:
    submit(registry, "noop")
    before = snapshot(raw)
    response = await api.post("/api/v1/jobs/bulk", json=body, headers=ADMIN)
    assert response.status == 422, await response.text()
    assert snapshot(raw) == before


@pytest.mark.parametrize(
    ("body", "state"),
    [
        ({"action": "retry", "filter": {"queue": Q, "state": "waiting"}}, "waiting"),
        ({"action": "promote", "filter": {"queue": Q, "state": "failed"}}, "failed"),
        ({"action": "delete", "filter": {"queue": Q, "state": "active"}}, "active"),
    ],
)
async def test_a_filter_the_action_does_not_apply_to_skips_every_job_and_changes_nothing(
    api: TestClient[Any, Any], registry: Registry, raw: redis.Redis, body: dict[str, Any], state: str
) -> None:
    for _ in range(3):
        submit(registry, "noop")
    before = snapshot(raw)
    count = raw.zcard(keys.state_key(Q, state))
    response = await api.post("/api/v1/jobs/bulk", json=body, headers=ADMIN)
    assert response.status == 200
    assert await response.json() == {"matched": count, "done": 0, "skipped": count}
    assert snapshot(raw) == before


async def test_clean_removes_old_finished_jobs_in_batches(
    api: TestClient[Any, Any], registry: Registry, raw: redis.Redis
) -> None:
    fail_jobs(registry, 1500)
    keep = submit(registry, "noop")
    # Nothing is older than an hour yet
    none = await api.post(
        f"/api/v1/queues/{Q}/clean", json={"states": ["failed"], "older_than_s": 3600}, headers=ADMIN
    )
    assert (await none.json())["removed"] == {"failed": 0}
    limited = await api.post(
        f"/api/v1/queues/{Q}/clean", json={"states": ["failed"], "limit": 1200}, headers=ADMIN
    )
    assert (await limited.json())["removed"] == {"failed": 1200}
    rest = await api.post(
        f"/api/v1/queues/{Q}/clean", json={"states": ["completed", "failed"]}, headers=ADMIN
    )
    assert (await rest.json())["removed"] == {"completed": 0, "failed": 300}
    assert registry.counts([Q])[Q]["failed"] == 0 and registry.get(keep).state is JobState.WAITING
    bad = await api.post(f"/api/v1/queues/{Q}/clean", json={"states": ["waiting"]}, headers=ADMIN)
    assert bad.status == 422


async def test_clean_removes_at_most_clean_batch_jobs_per_redis_call(
    api: TestClient[Any, Any], registry: Registry, raw: redis.Redis
) -> None:
    # Given more failed jobs than two clean batches
    count = 2 * actions.CLEAN_BATCH + 10
    fail_jobs(registry, count)
    # When they are all cleaned
    response = await api.post(f"/api/v1/queues/{Q}/clean", json={"states": ["failed"]}, headers=ADMIN)
    # Then every one is gone, removed by three script calls (one admin event each)
    assert (await response.json())["removed"] == {"failed": count}
    cleans = [json.loads(f["data"]) for _, f in typed_redis.xrange(raw, "fq:events") if f["type"] == "admin"]
    assert [c["count"] for c in cleans] == [actions.CLEAN_BATCH, actions.CLEAN_BATCH, 10]


async def test_stats_sum_counts_over_queues(api: TestClient[Any, Any], registry: Registry) -> None:
    submit(registry, "noop")
    submit(registry, "noop", delay_ms=60_000)
    registry.run(actions.pause("other"))
    body = await (await api.get("/api/v1/stats", headers=VIEWER)).json()
    assert body["totals"]["waiting"] == 1 and body["totals"]["delayed"] == 1
    assert {q["name"]: q["paused"] for q in body["queues"]} == {Q: False, "face_search": False, "other": True}
    assert body["workers"] == {"alive": 0, "stale": 0, "dead": 0}
