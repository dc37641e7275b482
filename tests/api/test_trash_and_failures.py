"""Trash and undo, failure groups as operation filters, over real HTTP on a real redis-server."""

from __future__ import annotations

from typing import Any

import redis
from aiohttp.test_utils import TestClient

from shared import keys, operations
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.registry import AsyncRegistry, Registry
from shared.states import JobState
from shared.submit import submit, submit_call
from tests import typed_redis
from tests.api.conftest import ADMIN, VIEWER
from tests.api.test_operations import FAILED, fail_jobs, post, run_all
from tests.helpers import snapshot


def job_records(raw: redis.Redis, ids: list[str]) -> dict[str, dict[str, str]]:
    """Each job's record without what a restore legitimately changes (gen, timeline)."""
    out = {}
    for job_id in ids:
        fields = typed_redis.hgetall(raw, keys.job_key(job_id))
        out[job_id] = {k: v for k, v in fields.items() if k not in ("gen", "timeline")}
    return out


async def test_undo_of_a_delete_restores_every_job_to_its_state_exactly(
    api: TestClient[Any, Any], registry: Registry, raw: redis.Redis, settings: Any
) -> None:
    # Given failed jobs in two groups, waiting and delayed jobs
    failed = fail_jobs(registry, 30, "fp-a", "KeyError") + fail_jobs(registry, 20, "fp-b", "ValueError")
    waiting = [submit(registry, "noop", priority=p % 4) for p in range(25)]
    delayed = [submit(registry, "noop", delay_ms=3_600_000) for _ in range(5)]
    everything = failed + waiting + delayed
    before_records = job_records(raw, everything)
    before_sets = {s: raw.zrange(keys.state_key(Q, s), 0, -1, withscores=True) for s in ("failed", "delayed")}
    before_groups = (await (await api.get("/api/v1/failures", params={"queue": Q}, headers=VIEWER)).json())[
        "groups"
    ]
    # When every failed job is deleted by filter, and the rest by ids
    _, by_filter = await post(api, {"action": "delete", "filter": FAILED})
    _, by_ids = await post(api, {"action": "delete", "ids": waiting + delayed})
    await run_all(settings, batch=7)
    assert registry.counts([Q])[Q] == {s.value: 0 for s in JobState} | {"waiting": 0}
    assert not typed_redis.keys(raw, "fq:job:*") and not typed_redis.keys(raw, "fq:failures:*")
    # Then the trash lists them, per operation and all together
    trash = await (await api.get(f"/api/v1/operations/{by_filter['id']}/trash", headers=VIEWER)).json()
    assert {e["job"] for e in trash["entries"]} == set(failed)
    assert {e["state"] for e in trash["entries"]} == {"failed"}
    everything_trashed = await (
        await api.get("/api/v1/trash", params={"limit": "1000"}, headers=VIEWER)
    ).json()
    assert len(everything_trashed["entries"]) == 80
    # When both deletes are undone
    for op in (by_filter, by_ids):
        response = await api.post(f"/api/v1/operations/{op['id']}/undo", headers=ADMIN)
        assert response.status == 202
        assert (await response.json())["undo_of"] == op["id"]
    await run_all(settings, batch=9)
    # Then every job is back in its state with its record, score and failure group
    assert job_records(raw, everything) == before_records
    after_sets = {s: raw.zrange(keys.state_key(Q, s), 0, -1, withscores=True) for s in ("failed", "delayed")}
    assert after_sets == before_sets
    assert registry.counts([Q])[Q]["waiting"] == 25
    after_groups = (await (await api.get("/api/v1/failures", params={"queue": Q}, headers=VIEWER)).json())[
        "groups"
    ]
    assert {(g["fingerprint"], g["count"]) for g in after_groups} == {
        (g["fingerprint"], g["count"]) for g in before_groups
    }
    assert raw.zcard(keys.TRASH) == 0 and not typed_redis.keys(raw, keys.TRASH_JOB_PREFIX + "*")
    # and an undo of something that is not a finished delete is refused
    _, retry = await post(api, {"action": "retry", "filter": FAILED})
    assert (await api.post(f"/api/v1/operations/{retry['id']}/undo", headers=ADMIN)).status == 409


async def test_single_delete_goes_to_the_trash_and_is_purged_after_the_ttl(
    api: TestClient[Any, Any], registry: Registry, raw: redis.Redis, settings: Any
) -> None:
    job_id = submit(registry, "noop")
    assert (await api.delete(f"/api/v1/jobs/{job_id}", headers=ADMIN)).status == 200
    assert (await api.get(f"/api/v1/jobs/{job_id}", headers=ADMIN)).status == 404
    listed = await (await api.get("/api/v1/trash", headers=VIEWER)).json()
    assert [(e["job"], e["state"], e["operation"]) for e in listed["entries"]] == [(job_id, "waiting", "")]
    assert 0 < raw.pttl(keys.trash_job_key(job_id)) <= settings.trash_ttl_s * 1000
    # When the purge runs with a cut-off past its deletion
    reg = AsyncRegistry(settings)
    purged = await reg.run(operations.purge_trash(await reg.now_ms() + 1, 100))
    await reg.close()
    # Then it is gone for good
    assert purged == 1
    assert raw.zcard(keys.TRASH) == 0 and not raw.exists(keys.trash_job_key(job_id))


async def test_one_deleted_job_is_restored_to_its_state_and_group_whatever_deleted_it(
    api: TestClient[Any, Any], registry: Registry, raw: redis.Redis, settings: Any
) -> None:
    # Given failed jobs of one failure group: one deleted on its own, two by an operation
    ids = fail_jobs(registry, 4, "fp-r", "OSError")
    before = registry.get(ids[0])
    assert (await api.delete(f"/api/v1/jobs/{ids[0]}", headers=ADMIN)).status == 200
    _, op = await post(api, {"action": "delete", "ids": ids[1:3]})
    await run_all(settings)
    assert typed_redis.hget(raw, keys.failure_group_key(Q, "fp-r"), "count") == "1"
    # A viewer may not restore, an unknown or overlong id is not in the trash: nothing changes
    untouched = snapshot(raw)
    assert (await api.post(f"/api/v1/trash/{ids[0]}/restore", headers=VIEWER)).status == 403
    for missing in ("nope", "x" * 65):
        response = await api.post(f"/api/v1/trash/{missing}/restore", headers=ADMIN)
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "job_not_found"
    assert snapshot(raw) == untouched
    # When the single deletion and one of the operation's are restored
    for job_id in (ids[0], ids[1]):
        response = await api.post(f"/api/v1/trash/{job_id}/restore", headers=ADMIN)
        assert response.status == 200
        assert await response.json() == {"id": job_id, "state": "failed"}
    # Then both are failed again, with their record, in their group; the trash holds the third only
    again = registry.get(ids[0])
    assert (again.state, again.error, again.attempts, again.gen) == (
        JobState.FAILED,
        before.error,
        before.attempts,
        before.gen + 1,
    )
    assert typed_redis.hget(raw, keys.failure_group_key(Q, "fp-r"), "count") == "3"
    listed = await (await api.get("/api/v1/trash", headers=VIEWER)).json()
    assert [e["job"] for e in listed["entries"]] == [ids[2]]
    assert typed_redis.zrange(raw, keys.operation_trash_key(op["id"]), 0, -1) == [ids[2]]
    # And a second restore is a 404; the audit says who restored what
    assert (await api.post(f"/api/v1/trash/{ids[0]}/restore", headers=ADMIN)).status == 404
    audit = await (await api.get("/api/v1/audit", params={"limit": "100"}, headers=VIEWER)).json()
    restored = [(e["target"], e["who"]) for e in audit["entries"] if e["action"] == "restore"]
    assert sorted(restored) == sorted([(ids[0], "FQ_ADMIN_TOKEN"), (ids[1], "FQ_ADMIN_TOKEN")])
    # And undoing the operation later restores only what is still in the trash
    assert (await api.post(f"/api/v1/operations/{op['id']}/undo", headers=ADMIN)).status == 202
    await run_all(settings)
    assert registry.counts([Q])[Q]["failed"] == 4 and raw.zcard(keys.TRASH) == 0


async def test_restoring_a_job_whose_id_was_taken_again_is_409_and_changes_nothing(
    api: TestClient[Any, Any], registry: Registry, raw: redis.Redis
) -> None:
    job_id = submit(registry, "noop")
    assert (await api.delete(f"/api/v1/jobs/{job_id}", headers=ADMIN)).status == 200
    _, call = submit_call("noop", settings=registry.settings, job_id=job_id)
    registry.run(call)  # the id is free again: a new job takes it
    before = snapshot(raw)
    response = await api.post(f"/api/v1/trash/{job_id}/restore", headers=ADMIN)
    assert response.status == 409 and (await response.json())["error"]["code"] == "job_exists"
    assert snapshot(raw) == before


async def test_failure_groups_are_exact_and_retrying_one_touches_only_its_jobs(
    api: TestClient[Any, Any], registry: Registry, raw: redis.Redis, settings: Any
) -> None:
    # Given failures of three causes
    a = fail_jobs(registry, 40, "fp-a", "KeyError")
    b = fail_jobs(registry, 25, "fp-b", "ValueError")
    c = fail_jobs(registry, 5, "fp-c", "TimeoutError")
    groups = (await (await api.get("/api/v1/failures", params={"queue": Q}, headers=VIEWER)).json())["groups"]
    # Then each group counts exactly, newest first, with its sample and exception
    assert [(g["fingerprint"], g["count"], g["exception"]) for g in groups] == [
        ("fp-c", 5, "TimeoutError"),
        ("fp-b", 25, "ValueError"),
        ("fp-a", 40, "KeyError"),
    ]
    assert groups[0]["sample"] == c[-1] and groups[0]["actor"] == "noop"
    assert groups[2]["first_ms"] <= groups[2]["last_ms"]
    # When a group is previewed then retried
    group = {"queue": Q, "state": "failed", "fingerprint": "fp-b"}
    status, preview = await post(api, {"action": "retry", "filter": group, "dry_run": True})
    assert status == 200 and preview["total"] == 25 and set(preview["sample"]) <= set(b)
    seq_before = int(typed_redis.get(raw, "fq:events:seq") or 0)
    _, op = await post(api, {"action": "retry", "filter": group})
    await run_all(settings, batch=6)
    # Then only its jobs moved, and the other groups are unchanged
    touched = {
        f["data"]
        for _, f in typed_redis.xrange(raw, "fq:events")
        if f["type"] == "job" and int(f["seq"]) > seq_before
    }
    assert len(touched) == 25
    assert {j.id for j in registry.list(Q, JobState.WAITING, limit=100)[0]} == set(b)
    after = (await (await api.get("/api/v1/failures", params={"queue": Q}, headers=VIEWER)).json())["groups"]
    assert [(g["fingerprint"], g["count"]) for g in after] == [("fp-c", 5), ("fp-a", 40)]
    # When single jobs leave groups by retry, delete, and the queue is cleaned
    await api.post(f"/api/v1/jobs/{a[0]}/retry", headers=ADMIN)
    await api.delete(f"/api/v1/jobs/{a[1]}", headers=ADMIN)
    await api.post(f"/api/v1/queues/{Q}/clean", json={"states": ["failed"]}, headers=ADMIN)
    await run_all(settings)
    # Then the counts follow exactly, and an emptied group is gone
    assert typed_redis.hget(raw, keys.failure_group_key(Q, "fp-a"), "count") is None
    assert typed_redis.zrange(raw, keys.failure_groups_key(Q), 0, -1) == []
    assert not typed_redis.keys(raw, "fq:failures:*")
    assert op["fingerprint"] == "fp-b"
    assert snapshot(raw)  # the keyspace is still readable


async def test_a_failure_group_counts_exactly_after_partial_removals(
    api: TestClient[Any, Any], registry: Registry, raw: redis.Redis, settings: Any
) -> None:
    ids = fail_jobs(registry, 12, "fp-x", "OSError")
    await api.post(f"/api/v1/jobs/{ids[0]}/retry", headers=ADMIN)
    await api.delete(f"/api/v1/jobs/{ids[1]}", headers=ADMIN)
    await api.post("/api/v1/jobs/bulk", json={"action": "retry", "ids": ids[2:5]}, headers=ADMIN)
    await run_all(settings)
    assert typed_redis.hget(raw, keys.failure_group_key(Q, "fp-x"), "count") == "7"
    assert raw.zcard(keys.failure_group_jobs_key(Q, "fp-x")) == 7


async def test_old_finished_operations_are_forgotten_but_not_while_their_jobs_are_in_the_trash(
    api: TestClient[Any, Any], registry: Registry, raw: redis.Redis, settings: Any
) -> None:
    fail_jobs(registry, 4)
    _, retried = await post(api, {"action": "retry", "filter": FAILED})
    await run_all(settings)
    fail_jobs(registry, 3)
    _, deleted = await post(api, {"action": "delete", "filter": FAILED})
    await run_all(settings)
    _, queued = await post(api, {"action": "promote", "filter": {"queue": Q, "state": "delayed"}})
    reg = AsyncRegistry(settings)
    forgotten = await reg.run(operations.forget(await reg.now_ms() + 1, 100))
    await reg.close()
    assert forgotten == 2  # the retry, and the promote that had nothing to do
    assert typed_redis.zrange(raw, keys.OPERATIONS, 0, -1) == [deleted["id"]]
    assert not raw.exists(keys.operation_key(retried["id"])) and not raw.exists(
        keys.operation_key(queued["id"])
    )
