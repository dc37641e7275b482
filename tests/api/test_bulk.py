"""The bulk and clean shorthands for operations, and stats, over real HTTP against a real redis-server."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from aiohttp.test_utils import TestClient

from shared import actions, keys
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.config import Settings
from shared.registry import Registry
from shared.states import JobState
from shared.submit import submit
from tests.api.conftest import ADMIN, VIEWER
from tests.api.test_operations import fail_jobs, run_all
from tests.helpers import events, snapshot

#: Slowest single Redis command tolerated while the operations run, in microseconds (SLOWLOG
#: threshold). A batch takes ~1-2 ms here; the margin absorbs a busy CI machine, while one call
#: doing all 2,000 jobs would still show.
SLOW_US = 100_000


async def operation(api: TestClient[Any, Any], op_id: str) -> dict[str, Any]:
    body: dict[str, Any] = await (await api.get(f"/api/v1/operations/{op_id}", headers=VIEWER)).json()
    return body


async def accepted(response: Any) -> dict[str, Any]:
    """The operation a shorthand answered with: 202, at once, with where to follow it."""
    assert response.status == 202, await response.text()
    body: dict[str, Any] = await response.json()
    assert response.headers["Location"] == f"/api/v1/operations/{body['id']}"
    assert body["state"] == "queued" and body["done"] == 0
    return body


async def test_bulk_promote_by_ids_and_delete_by_filter_run_as_operations_in_short_batches(
    api: TestClient[Any, Any], registry: Registry, raw: redis.Redis, settings: Settings
) -> None:
    # Given 2,000 delayed jobs and a Redis that logs any command slower than SLOW_US
    ids = [submit(registry, "noop", delay_ms=3_600_000) for _ in range(2_000)]
    raw.config_set("slowlog-log-slower-than", SLOW_US)
    raw.slowlog_reset()
    # When all are promoted by id: the request answers at once, before any job moved
    promote = await accepted(
        await api.post("/api/v1/jobs/bulk", json={"action": "promote", "ids": ids}, headers=ADMIN)
    )
    assert (promote["action"], promote["total"]) == ("promote", 2_000)
    assert registry.counts([Q])[Q]["delayed"] == 2_000
    # And the monitor runs it in batches
    assert await run_all(settings) >= 2_000 // settings.operation_batch
    assert (await operation(api, promote["id"]))["done"] == 2_000
    assert registry.counts([Q])[Q]["waiting"] == 2_000
    # When all are deleted by filter
    body = {"action": "delete", "filter": {"queue": Q, "state": "waiting"}}
    delete = await accepted(await api.post("/api/v1/jobs/bulk", json=body, headers=ADMIN))
    await run_all(settings)
    # Then nothing is left, every job is in the trash (undoable), and no Redis call was slow
    assert (await operation(api, delete["id"]))["done"] == 2_000
    assert registry.counts([Q])[Q] == {s.value: 0 for s in JobState}
    assert raw.zcard(keys.operation_trash_key(delete["id"])) == 2_000
    assert raw.slowlog_get() == [], raw.slowlog_get()
    raw.config_set("slowlog-log-slower-than", 10_000)
    audit = await (await api.get("/api/v1/audit", params={"limit": "1000"}, headers=VIEWER)).json()
    ops = {e["action"]: e for e in audit["entries"] if e["action"].startswith("operation_")}
    assert {a: (e["who"], e["role"], e["count"]) for a, e in ops.items()} == {
        f"operation_{action}:{what}": ("FQ_ADMIN_TOKEN", "admin", 2000)
        for action in ("promote", "delete")
        for what in ("created", "done")
    }
    # and each entry was announced live as an `audit` event
    live = {e["data"]["entry"]: e["data"] for e in events(raw) if e["type"] == "audit"}
    assert {a: (live[e["id"]]["who"], live[e["id"]]["role"]) for a, e in ops.items()} == {
        a: ("FQ_ADMIN_TOKEN", "admin") for a in ops
    }


async def test_bulk_retry_by_ids_and_by_filter_counts_skips(
    api: TestClient[Any, Any], registry: Registry, settings: Settings
) -> None:
    failed = fail_jobs(registry, 120)
    waiting = submit(registry, "noop")
    ids = [*failed[:10], waiting, "unknown"]
    by_ids = await accepted(
        await api.post("/api/v1/jobs/bulk", json={"action": "retry", "ids": ids}, headers=ADMIN)
    )
    await run_all(settings)
    assert {k: (await operation(api, by_ids["id"]))[k] for k in ("total", "done", "skipped")} == {
        "total": 12,
        "done": 10,
        "skipped": 2,
    }
    body = {"action": "retry", "filter": {"queue": Q, "state": "failed"}}
    by_filter = await accepted(await api.post("/api/v1/jobs/bulk", json=body, headers=ADMIN))
    assert by_filter["total"] == 110
    await run_all(settings)
    assert (await operation(api, by_filter["id"]))["done"] == 110
    assert registry.counts([Q])[Q]["waiting"] == 121


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
        # A filter the action cannot apply to is refused, as by POST /api/v1/operations
        {"action": "retry", "filter": {"queue": Q, "state": "waiting"}},
        {"action": "promote", "filter": {"queue": Q, "state": "failed"}},
        {"action": "delete", "filter": {"queue": Q, "state": "active"}},
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


async def test_bulk_needs_act_permission_and_changes_nothing_without(
    api: TestClient[Any, Any], registry: Registry, raw: redis.Redis
) -> None:
    fail_jobs(registry, 3)
    before = snapshot(raw)
    body = {"action": "retry", "filter": {"queue": Q, "state": "failed"}}
    assert (await api.post("/api/v1/jobs/bulk", json=body, headers=VIEWER)).status == 403
    clean = {"states": ["failed"]}
    assert (await api.post(f"/api/v1/queues/{Q}/clean", json=clean, headers=VIEWER)).status == 403
    assert snapshot(raw) == before


async def test_clean_makes_one_operation_per_state_for_jobs_older_than_asked(
    api: TestClient[Any, Any], registry: Registry, raw: redis.Redis, settings: Settings
) -> None:
    fail_jobs(registry, 150)
    keep = submit(registry, "noop")
    # Nothing is older than an hour yet: the operation targets nothing
    response = await api.post(
        f"/api/v1/queues/{Q}/clean", json={"states": ["failed"], "older_than_s": 3600}, headers=ADMIN
    )
    assert response.status == 202
    none = await response.json()
    assert none["queue"] == Q and [op["total"] for op in none["operations"]] == [0]
    # Both states, with an Idempotency-Key: two operations, and the same two when the request is resent
    headers = {**ADMIN, "Idempotency-Key": "clean-1"}
    body = {"states": ["completed", "failed"]}
    first = await (await api.post(f"/api/v1/queues/{Q}/clean", json=body, headers=headers)).json()
    again = await (await api.post(f"/api/v1/queues/{Q}/clean", json=body, headers=headers)).json()
    assert [(op["action"], op["filter_state"], op["total"]) for op in first["operations"]] == [
        ("clean", "completed", 0),
        ("clean", "failed", 150),
    ]
    assert [op["id"] for op in again["operations"]] == [op["id"] for op in first["operations"]]
    await run_all(settings)
    assert registry.counts([Q])[Q]["failed"] == 0 and registry.get(keep).state is JobState.WAITING
    assert (await operation(api, first["operations"][1]["id"]))["done"] == 150
    # What an operation cannot do is refused (the old per-request limit is gone: an operation is cancelled)
    for bad in ({"states": ["waiting"]}, {"states": ["failed"], "limit": 10}):
        before = snapshot(raw)
        response = await api.post(f"/api/v1/queues/{Q}/clean", json=bad, headers=ADMIN)
        assert response.status == 422, await response.text()
        assert snapshot(raw) == before


async def test_stats_sum_counts_over_queues(api: TestClient[Any, Any], registry: Registry) -> None:
    submit(registry, "noop")
    submit(registry, "noop", delay_ms=60_000)
    registry.run(actions.pause("other"))
    body = await (await api.get("/api/v1/stats", headers=VIEWER)).json()
    assert body["totals"]["waiting"] == 1 and body["totals"]["delayed"] == 1
    assert {q["name"]: q["paused"] for q in body["queues"]} == {Q: False, "face_search": False, "other": True}
    assert body["workers"] == {"alive": 0, "stale": 0, "dead": 0}
