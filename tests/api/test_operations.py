"""Operations over real HTTP, executed by the monitor's runner in-process, on a real redis-server."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from aiohttp.test_utils import TestClient

from services.monitor.operations import OperationRunner
from shared import keys, operations, scripts, transitions
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.config import Settings
from shared.errors import LeaseLost
from shared.face_jobs import FACE_QUEUE
from shared.metrics import OperationMetrics
from shared.operations import Operation
from shared.registry import AsyncRegistry, Registry
from shared.states import JobState
from shared.submit import submit
from tests import typed_redis
from tests.api.conftest import ADMIN, VIEWER
from tests.api.test_keys import bearer, create
from tests.helpers import events as all_events

FAILED = {"queue": Q, "state": "failed"}


def fail_jobs(registry: Registry, count: int, fingerprint: str = "", exception: str = "E") -> list[str]:
    """``count`` new jobs run and failed (in one failure group when given a fingerprint)."""
    ids = [submit(registry, "noop") for _ in range(count)]
    registry.run(transitions.dispatch(Q, 1_000_000))
    for job_id in ids:
        registry.run(transitions.start(job_id, Q, 0, "w"))
        registry.run(transitions.fail(job_id, Q, 0, "w", f"{exception}: boom", "tb", fingerprint, exception))
    return ids


async def run_all(settings: Settings, batch: int = 50) -> int:
    """Run every pending operation to its end as one monitor would; returns the batches run."""
    from dataclasses import replace

    registry = AsyncRegistry(replace(settings, operation_batch=batch))
    from prometheus_client import CollectorRegistry

    runner = OperationRunner(registry.settings, registry, OperationMetrics(CollectorRegistry()))
    batches = 0
    try:
        while await runner.step():
            batches += 1
            assert batches < 10_000
    finally:
        await registry.close()
    return batches


async def post(api: TestClient[Any, Any], body: dict[str, Any], **headers: str) -> tuple[int, Any]:
    response = await api.post("/api/v1/operations", json=body, headers={**ADMIN, **headers})
    return response.status, await response.json()


#: The operations resource.
URL = "/api/v1/operations"


async def test_dry_run_counts_exactly_and_changes_nothing(
    api: TestClient[Any, Any], registry: Registry, raw: redis.Redis
) -> None:
    # Given 120 failed jobs
    ids = fail_jobs(registry, 120)
    seq = typed_redis.get(raw, "fq:events:seq")
    # When a retry of all failed jobs is previewed
    status, body = await post(api, {"action": "retry", "filter": FAILED, "dry_run": True})
    # Then it counts them exactly, shows the first ones, and nothing changed (not even an event)
    assert status == 200
    assert body["total"] == 120 and body["sample"] == ids[:10]
    assert registry.counts([Q])[Q]["failed"] == 120
    assert typed_redis.get(raw, "fq:events:seq") == seq
    assert raw.zcard("fq:ops") == 0


async def test_retry_by_filter_answers_202_and_the_monitor_runs_it_in_batches(
    api: TestClient[Any, Any], registry: Registry, raw: redis.Redis, settings: Settings
) -> None:
    # Given 230 failed jobs
    fail_jobs(registry, 230)
    # When all failed jobs are retried as an operation
    status, op = await post(api, {"action": "retry", "filter": FAILED})
    # Then the answer is at once, queued with the exact total and who asked
    assert status == 202
    assert op["state"] == "queued" and op["total"] == 230 and op["done"] == 0
    assert op["created_by"] == "FQ_ADMIN_TOKEN" and op["action"] == "retry"
    # When a monitor runs it in batches of 50
    batches = await run_all(settings, batch=50)
    # Then every job is waiting again, the operation is done, with progress events per batch
    # (at least 5: a batch that uses up its time budget on a busy machine stops early)
    assert batches >= 5
    assert registry.counts([Q])[Q]["waiting"] == 230
    done = await (await api.get(f"/api/v1/operations/{op['id']}", headers=VIEWER)).json()
    assert (done["state"], done["done"], done["skipped"]) == ("done", 230, 0)
    assert done["started_ms"] <= done["finished_ms"]
    events = [f for _, f in typed_redis.xrange(raw, "fq:events") if f["type"] == "operation"]
    assert len(events) == 1 + batches  # created, then one per batch
    # and it is audited at creation and at its end, with who and the counts
    audit = await (await api.get("/api/v1/audit", params={"limit": "1000"}, headers=VIEWER)).json()
    ops = [e for e in audit["entries"] if e["target"] == op["id"]]
    assert {(e["action"], e["count"], e["who"], e["role"]) for e in ops} == {
        ("operation_retry:created", 230, "FQ_ADMIN_TOKEN", "admin"),
        ("operation_retry:done", 230, "FQ_ADMIN_TOKEN", "admin"),
    }
    # and each entry was announced live as an `audit` event, with the same who and role
    live = [e["data"] for e in all_events(raw) if e["type"] == "audit" and e["data"]["target"] == op["id"]]
    assert sorted((d["action"], d["who"], d["role"], d["entry"]) for d in live) == sorted(
        (e["action"], e["who"], e["role"], e["id"]) for e in ops
    )


async def test_a_batch_out_of_time_stops_after_its_current_job_and_the_next_goes_on_from_there(
    api: TestClient[Any, Any],
    registry: Registry,
    raw: redis.Redis,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given 30 failed jobs, and batches of 10 whose time budget is used up by their first job
    ids = fail_jobs(registry, 30)
    monkeypatch.setattr(scripts, "SCRIPT_BUDGET_US", 0)
    status, op = await post(api, {"action": "retry", "filter": FAILED})
    assert status == 202
    # When a monitor runs it
    batches = await run_all(settings, batch=10)
    # Then each call handled one job, and each job was retried exactly once, in order
    assert batches == 30
    done = await (await api.get(f"/api/v1/operations/{op['id']}", headers=VIEWER)).json()
    assert (done["state"], done["done"], done["skipped"]) == ("done", 30, 0)
    retried = [
        job
        for _, f in typed_redis.xrange(raw, "fq:events")
        if f["type"] == "job"
        and (job := json.loads(f["data"]))["to"] == "waiting"
        and job["from"] == "failed"
    ]
    assert [job["job"] for job in retried] == ids


async def test_new_failures_after_creation_are_not_targets(
    api: TestClient[Any, Any], registry: Registry, settings: Settings
) -> None:
    # Given an operation over 10 failed jobs
    fail_jobs(registry, 10)
    _, op = await post(api, {"action": "delete", "filter": FAILED})
    # When 5 more jobs fail before it runs
    later = fail_jobs(registry, 5)
    await run_all(settings, batch=3)
    # Then only the first 10 were deleted
    assert registry.counts([Q])[Q]["failed"] == 5
    assert {j.id for j in registry.list(Q, JobState.FAILED)[0]} == set(later)
    final = await (await api.get(f"/api/v1/operations/{op['id']}", headers=ADMIN)).json()
    assert (final["total"], final["done"]) == (10, 10)


async def test_idempotency_key_returns_the_same_operation_for_the_same_caller(
    api: TestClient[Any, Any], registry: Registry, raw: redis.Redis
) -> None:
    fail_jobs(registry, 3)
    body = {"action": "retry", "filter": FAILED}
    _, first = await post(api, body, **{"Idempotency-Key": "abc-1"})
    status, again = await post(api, body, **{"Idempotency-Key": "abc-1"})
    _, other = await post(api, body, **{"Idempotency-Key": "abc-2"})
    assert status == 202 and again["id"] == first["id"]
    assert other["id"] != first["id"]
    assert raw.zcard("fq:ops") == 2


async def test_operation_by_ids_spans_queues_and_counts_unknown_ids_as_skipped(
    api: TestClient[Any, Any], registry: Registry, settings: Settings
) -> None:
    # Given failed jobs, a waiting one and an unknown id
    failed = fail_jobs(registry, 7)
    waiting = submit(registry, "noop")
    _, op = await post(api, {"action": "retry", "ids": [*failed, waiting, "nope", failed[0]]})
    assert op["total"] == 9 and op["skipped"] == 1 and op["ids"] == 9
    await run_all(settings, batch=4)
    final = await (await api.get(f"/api/v1/operations/{op['id']}", headers=ADMIN)).json()
    assert (final["state"], final["done"], final["skipped"]) == ("done", 7, 2)
    assert registry.counts([Q])[Q]["waiting"] == 8


async def test_set_priority_by_filter_touches_each_waiting_job_once(
    api: TestClient[Any, Any], registry: Registry, settings: Settings, raw: redis.Redis
) -> None:
    ids = [submit(registry, "noop", priority=p % 3) for p in range(40)]
    _, op = await post(
        api, {"action": "set-priority", "priority": 9, "filter": {"queue": Q, "state": "waiting"}}
    )
    assert op["total"] == 40
    await run_all(settings, batch=7)
    final = await (await api.get(f"/api/v1/operations/{op['id']}", headers=ADMIN)).json()
    assert (final["done"], final["skipped"]) == (40, 0)
    assert {registry.get(i).priority for i in ids} == {9}


async def test_cancel_stops_a_queued_operation_and_a_finished_one_answers_409(
    api: TestClient[Any, Any], registry: Registry, raw: redis.Redis, settings: Settings
) -> None:
    fail_jobs(registry, 20)
    _, op = await post(api, {"action": "retry", "filter": FAILED})
    cancelled = await api.post(f"/api/v1/operations/{op['id']}/cancel", headers=ADMIN)
    assert cancelled.status == 200 and (await cancelled.json())["state"] == "cancelled"
    assert await run_all(settings) == 0
    assert registry.counts([Q])[Q]["failed"] == 20
    again = await api.post(f"/api/v1/operations/{op['id']}/cancel", headers=ADMIN)
    assert again.status == 409
    assert (await again.json())["error"]["code"] == "invalid_transition"
    # and the cancel is audited with the canceller's role, and announced live
    audit = await (
        await api.get("/api/v1/audit", params={"action": "operation_cancel"}, headers=VIEWER)
    ).json()
    (entry,) = audit["entries"]
    assert (entry["who"], entry["role"], entry["target"]) == ("FQ_ADMIN_TOKEN", "admin", op["id"])
    live = [
        e["data"]
        for e in all_events(raw)
        if e["type"] == "audit" and e["data"]["action"] == "operation_cancel"
    ]
    assert [(d["who"], d["role"], d["entry"]) for d in live] == [("FQ_ADMIN_TOKEN", "admin", entry["id"])]


async def test_an_operators_operation_is_audited_with_the_operator_role(
    api: TestClient[Any, Any], registry: Registry, raw: redis.Redis, settings: Settings
) -> None:
    # Given failed jobs and an operator key scoped to their queue
    fail_jobs(registry, 5)
    ours = bearer((await create(api, name="night-shift", role="operator", queues=[Q]))["secret"])
    # When the operator retries them as an operation, run by the monitor
    status, op = await post(api, {"action": "retry", "filter": FAILED}, **ours)
    assert status == 202, op
    await run_all(settings)
    # Then creation and end are audited under the operator's name and role, and announced live
    audit = await (await api.get("/api/v1/audit", params={"person": "night-shift"}, headers=ADMIN)).json()
    assert {(e["action"], e["role"]) for e in audit["entries"]} == {
        ("operation_retry:created", "operator"),
        ("operation_retry:done", "operator"),
    }
    live = [e["data"] for e in all_events(raw) if e["type"] == "audit" and e["data"]["target"] == op["id"]]
    assert {(d["action"], d["who"], d["role"]) for d in live} == {
        ("operation_retry:created", "night-shift", "operator"),
        ("operation_retry:done", "night-shift", "operator"),
    }


async def test_bad_operations_are_refused_with_4xx(api: TestClient[Any, Any], registry: Registry) -> None:
    cases: list[tuple[dict[str, Any], int]] = [
        ({"action": "retry", "filter": {"queue": Q, "state": "waiting"}}, 422),
        ({"action": "delete", "filter": {"queue": Q, "state": "active"}}, 422),
        ({"action": "set-priority", "filter": {"queue": Q, "state": "waiting"}}, 422),
        ({"action": "retry", "priority": 3, "filter": FAILED}, 422),
        ({"action": "clean", "ids": ["a"]}, 422),
        ({"action": "retry", "filter": {"queue": "no-such-queue", "state": "failed"}}, 404),
        ({"action": "promote", "filter": {"queue": Q, "state": "delayed", "fingerprint": "abc"}}, 422),
        ({"action": "explode", "filter": FAILED}, 422),
        ({"action": "retry", "ids": []}, 422),
    ]
    for body, status in cases:
        got, answer = await post(api, body)
        assert got == status, (body, answer)
        assert set(answer["error"]) == {"code", "message"}
    assert (await api.get("/api/v1/operations/nope", headers=ADMIN)).status == 404
    assert (await api.post("/api/v1/operations/" + "0" * 32 + "/cancel", headers=ADMIN)).status == 404
    viewer = await api.post("/api/v1/operations", json={"action": "retry", "filter": FAILED}, headers=VIEWER)
    assert viewer.status == 403
    long_key = await post(api, {"action": "retry", "filter": FAILED}, **{"Idempotency-Key": "k" * 300})
    assert long_key[0] == 400


async def test_list_shows_operations_newest_first(api: TestClient[Any, Any], registry: Registry) -> None:
    fail_jobs(registry, 2)
    _, a = await post(api, {"action": "retry", "filter": FAILED})
    _, b = await post(api, {"action": "delete", "filter": FAILED})
    listed = await (await api.get("/api/v1/operations", headers=VIEWER)).json()
    assert [o["id"] for o in listed["operations"]] == [b["id"], a["id"]]


async def test_a_monitor_that_lost_its_lease_changes_nothing(
    api: TestClient[Any, Any], registry: Registry, raw: redis.Redis
) -> None:
    # Given an operation, and monitor A's lease taken over by B after it expired (A was paused)
    fail_jobs(registry, 5)
    _, op = await post(api, {"action": "retry", "filter": FAILED})
    token_a = registry.run(operations.lease("A", 60_000, None))
    assert registry.run(operations.lease("B", 60_000, None)) == 0  # held: B waits
    raw.delete(keys.OPERATIONS_LEASE)  # A's lease expired
    token_b = registry.run(operations.lease("B", 60_000, None))
    assert token_b > token_a
    record = Operation.from_hash(typed_redis.hgetall(raw, keys.operation_key(op["id"])))
    # When A wakes up and runs a batch with its old token
    with pytest.raises(LeaseLost):
        registry.run(operations.batch(record, "A", token_a, lease_ms=60_000, size=10, trash_ttl_ms=1000))
    # Then nothing changed; B's batch does the work
    assert registry.counts([Q])[Q]["failed"] == 5
    assert registry.run(
        operations.batch(record, "B", token_b, lease_ms=60_000, size=10, trash_ttl_ms=1000)
    ) == (
        "done",
        5,
        0,
    )


async def test_a_queue_scoped_operator_runs_operations_on_its_queue_only(
    api: TestClient[Any, Any], registry: Registry
) -> None:
    # Given failed jobs on the diagnostics queue, an operator scoped to it and one scoped elsewhere
    fail_jobs(registry, 3)
    ours = bearer((await create(api, name="diag", role="operator", queues=[Q]))["secret"])
    theirs = bearer((await create(api, name="faces", role="operator", queues=[FACE_QUEUE]))["secret"])
    body = {"action": "retry", "filter": {"queue": Q, "state": "failed"}}
    # When the other queue's operator previews, starts or acts by ids, it is refused
    assert (await api.post(URL, json={**body, "dry_run": True}, headers=theirs)).status == 403
    assert (await api.post(URL, json=body, headers=theirs)).status == 403
    (job_id, *_) = registry.client.zrange(keys.state_key(Q, JobState.FAILED), 0, 0)
    assert (await api.post(URL, json={"action": "retry", "ids": [job_id]}, headers=theirs)).status == 403
    # Then the queue's own operator runs it, and only it sees it
    started = await api.post(URL, json=body, headers=ours)
    assert started.status == 202, await started.text()
    op = await started.json()
    assert (await api.get(f"{URL}/{op['id']}", headers=ours)).status == 200
    assert (await api.get(f"{URL}/{op['id']}", headers=theirs)).status == 404
    assert (await api.post(f"{URL}/{op['id']}/cancel", headers=theirs)).status == 403
    listed = await (await api.get(URL, headers=theirs)).json()
    assert op["id"] not in [o["id"] for o in listed["operations"]]
    # and a viewer may read but never start one
    assert (await api.post(URL, json=body, headers=VIEWER)).status == 403
