"""``/api/v1/jobs`` and ``/api/v1/queues`` over real HTTP, against real Redis and a real worker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis
from aiohttp.test_utils import TestClient

from shared import actions, transitions
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.registry import Registry
from shared.states import JobState
from shared.submit import submit
from tests.api.conftest import ADMIN, VIEWER
from tests.helpers import snapshot
from tests.processes import wait_for


async def test_submitted_job_runs_and_reads_back_with_its_timeline(
    api: TestClient[Any, Any], registry: Registry, start_worker: Callable[..., Any]
) -> None:
    response = await api.post(
        "/api/v1/jobs", json={"actor": "sleep", "args": {"seconds": 0.1}, "priority": 2}, headers=ADMIN
    )
    assert response.status == 201
    job = await response.json()
    assert (job["actor"], job["state"], job["priority"], job["args"]) == ("sleep", "waiting", 2, [0.1])
    start_worker()  # only now, so the job is certainly still waiting when the response is built
    wait_for(lambda: registry.get(job["id"]).state is JobState.COMPLETED, what="completion")
    read = await api.get(f"/api/v1/jobs/{job['id']}", headers=VIEWER)
    body = await read.json()
    assert body["state"] == "completed" and body["result"] == {"slept": 0.1} and body["worker"]
    assert [(t["from"], t["to"]) for t in body["timeline"]] == [
        (None, "waiting"),
        ("waiting", "active"),
        ("active", "completed"),
    ]
    assert [t["seq"] for t in body["timeline"]] == sorted(t["seq"] for t in body["timeline"])


async def test_failed_job_is_retried_through_the_api(
    api: TestClient[Any, Any], registry: Registry, start_worker: Callable[..., Any]
) -> None:
    start_worker()
    job = await (
        await api.post("/api/v1/jobs", json={"actor": "fail", "max_retries": 0}, headers=ADMIN)
    ).json()
    wait_for(lambda: registry.get(job["id"]).state is JobState.FAILED, what="failure")
    # A failed job can be retried; it then runs (and fails) again
    response = await api.post(f"/api/v1/jobs/{job['id']}/retry", headers=ADMIN)
    assert response.status == 200 and await response.json() == {"id": job["id"], "state": "waiting"}
    wait_for(lambda: registry.get(job["id"]).state is JobState.FAILED, what="second failure")
    assert registry.get(job["id"]).attempts == 1
    # A waiting job cannot be retried: 409 naming its state
    waiting = submit(registry, "noop", delay_ms=60_000)
    conflict = await api.post(f"/api/v1/jobs/{waiting}/retry", headers=ADMIN)
    assert conflict.status == 409
    error = (await conflict.json())["error"]
    assert error["code"] == "invalid_transition" and "delayed" in error["message"]


async def test_promote_priority_and_delete(
    api: TestClient[Any, Any], registry: Registry, raw: redis.Redis
) -> None:
    delayed = submit(registry, "noop", delay_ms=60_000)
    assert (
        await api.put(f"/api/v1/jobs/{delayed}/priority", json={"priority": 1}, headers=ADMIN)
    ).status == 200
    promoted = await api.post(f"/api/v1/jobs/{delayed}/promote", headers=ADMIN)
    assert await promoted.json() == {"id": delayed, "state": "waiting"}
    assert registry.get(delayed).priority == 1
    # an active job is deleted only with force
    registry.run(transitions.dispatch(Q, 10))
    registry.run(transitions.start(delayed, Q, registry.get(delayed).gen, "w"))
    refused = await api.delete(f"/api/v1/jobs/{delayed}", headers=ADMIN)
    assert refused.status == 409 and "active" in (await refused.json())["error"]["message"]
    forced = await api.delete(f"/api/v1/jobs/{delayed}", params={"force": "true"}, headers=ADMIN)
    assert forced.status == 200 and (await forced.json())["state"] == "active"
    assert (await api.get(f"/api/v1/jobs/{delayed}", headers=ADMIN)).status == 404


async def test_list_pages_through_a_state_in_its_order(api: TestClient[Any, Any], registry: Registry) -> None:
    ids = [submit(registry, "noop") for _ in range(7)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"queue": Q, "state": "waiting", "limit": "3", **({"cursor": cursor} if cursor else {})}
        page = await (await api.get("/api/v1/jobs", params=params, headers=VIEWER)).json()
        seen += [j["id"] for j in page["jobs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids  # waiting: same priority, oldest first


async def test_queues_report_counts_health_and_pause_state(
    api: TestClient[Any, Any], registry: Registry
) -> None:
    submit(registry, "noop")
    paused = await api.post(f"/api/v1/queues/{Q}/pause", headers=ADMIN)
    assert await paused.json() == {"queue": Q, "paused": True, "changed": True}
    again = await api.post(f"/api/v1/queues/{Q}/pause", headers=ADMIN)
    assert (await again.json())["changed"] is False
    listed = (await (await api.get("/api/v1/queues", headers=VIEWER)).json())["queues"]
    assert [q["name"] for q in listed] == [Q, "face_search"]  # every catalog queue, even empty
    (queue,) = [q for q in listed if q["name"] == Q]
    assert queue["name"] == Q and queue["paused"] is True and queue["counts"]["waiting"] == 1
    assert queue["oldest_waiting_s"] is not None and queue["oldest_waiting_s"] >= 0
    resumed = await api.post(f"/api/v1/queues/{Q}/resume", headers=ADMIN)
    assert await resumed.json() == {"queue": Q, "paused": False, "changed": True}


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("POST", "/api/v1/jobs", {"json": {"actor": "nope"}}, 422, "unknown_actor"),
        ("POST", "/api/v1/jobs", {"json": {"actor": "sleep", "args": ["x"]}}, 422, "invalid_arguments"),
        ("POST", "/api/v1/jobs", {"json": {"actor": "noop", "priority": 100}}, 422, "validation_error"),
        ("POST", "/api/v1/jobs", {"json": {"actor": "noop", "colour": "red"}}, 422, "validation_error"),
        ("POST", "/api/v1/jobs", {"json": {"actor": "noop", "delay_ms": -1}}, 422, "validation_error"),
        ("POST", "/api/v1/jobs", {"json": ["noop"]}, 422, "validation_error"),
        (
            "POST",
            "/api/v1/jobs",
            {"data": "{not json", "headers": {"Content-Type": "application/json"}},
            400,
            "bad_request",
        ),
        ("POST", "/api/v1/jobs", {"data": "actor=noop"}, 415, "unsupported_media_type"),
        ("GET", "/api/v1/jobs/nope", {}, 404, "job_not_found"),
        ("POST", "/api/v1/jobs/nope/retry", {}, 404, "job_not_found"),
        ("PUT", "/api/v1/jobs/nope/priority", {"json": {"priority": 1}}, 404, "job_not_found"),
        ("DELETE", "/api/v1/jobs/nope", {}, 404, "job_not_found"),
        ("GET", "/api/v1/jobs", {"params": {"q": "bad\x01q"}}, 400, "bad_request"),
        ("GET", "/api/v1/jobs", {"params": {"q": "nosuch:field"}}, 400, "bad_query"),
        ("GET", "/api/v1/jobs", {"params": {"q": "q!"}}, 400, "bad_query"),
        ("GET", "/api/v1/jobs", {"params": {"cursor": "1:x"}}, 400, "bad_request"),
        ("GET", "/api/v1/jobs", {"params": {"queue": Q, "state": "lost"}}, 400, "bad_request"),
        (
            "GET",
            "/api/v1/jobs",
            {"params": {"queue": Q, "state": "waiting", "limit": "100000"}},
            400,
            "bad_request",
        ),
        (
            "GET",
            "/api/v1/jobs",
            {"params": {"queue": Q, "state": "waiting", "cursor": "x"}},
            400,
            "bad_request",
        ),
        ("POST", "/api/v1/queues/bad queue/pause", {}, 400, "bad_request"),
    ],
)
async def test_bad_input_gets_a_clear_error_and_changes_nothing(
    api: TestClient[Any, Any],
    raw: redis.Redis,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
    code: str,
) -> None:
    before = snapshot(raw)
    headers = {**ADMIN, **kwargs.pop("headers", {})}
    response = await api.request(method, path, headers=headers, **kwargs)
    assert response.status == status, await response.text()
    assert (await response.json())["error"]["code"] == code
    assert snapshot(raw) == before


async def test_viewer_may_read_but_not_act(
    api: TestClient[Any, Any], registry: Registry, raw: redis.Redis
) -> None:
    job_id = submit(registry, "noop")
    assert (await api.get(f"/api/v1/jobs/{job_id}", headers=VIEWER)).status == 200
    before = snapshot(raw)
    for method, path in [
        ("POST", "/api/v1/jobs"),
        ("DELETE", f"/api/v1/jobs/{job_id}"),
        ("POST", f"/api/v1/queues/{Q}/pause"),
    ]:
        response = await api.request(method, path, json={"actor": "noop"}, headers=VIEWER)
        assert response.status == 403
    assert snapshot(raw) == before


async def test_openapi_document_describes_every_route_from_the_models(api: TestClient[Any, Any]) -> None:
    response = await api.get("/api/v1/openapi.json")
    doc = await response.json()
    assert doc["openapi"] == "3.1.0"
    assert set(doc["paths"]) >= {
        "/api/v1/jobs",
        "/api/v1/jobs/{job_id}",
        "/api/v1/jobs/{job_id}/retry",
        "/api/v1/jobs/{job_id}/promote",
        "/api/v1/jobs/{job_id}/priority",
        "/api/v1/queues",
        "/api/v1/queues/{queue}/pause",
        "/api/v1/workers",
        "/api/v1/workers/{worker_id}",
    }
    submit_schema = doc["components"]["schemas"]["SubmitJob"]
    assert submit_schema["additionalProperties"] is False
    assert submit_schema["properties"]["priority"]["maximum"] == 99
    post = doc["paths"]["/api/v1/jobs"]["post"]
    assert set(post["responses"]) >= {"201", "401", "422"}
    # every $ref resolves
    text = str(doc)
    for name in {part.split("'")[0] for part in text.split("#/components/schemas/")[1:]}:
        assert name in doc["components"]["schemas"], name


async def test_search_lists_newest_first_and_filters_by_queue_state_actor_and_id_prefix(
    api: TestClient[Any, Any], registry: Registry
) -> None:
    sleeps = [submit(registry, "sleep", [1]) for _ in range(3)]
    noops = [submit(registry, "noop") for _ in range(4)]
    delayed = submit(registry, "noop", delay_ms=60_000)

    async def search(**params: str) -> list[str]:
        ids: list[str] = []
        cursor = None
        while True:
            query = {**params, "limit": "2", **({"cursor": cursor} if cursor else {})}
            response = await api.get("/api/v1/jobs", params=query, headers=VIEWER)
            assert response.status == 200, await response.text()
            page = await response.json()
            ids += [j["id"] for j in page["jobs"]]
            cursor = page["next_cursor"]
            if cursor is None:
                return ids

    everything = [*sleeps, *noops, delayed]
    assert await search() == everything[::-1]  # newest first, across states
    assert await search(q="sleep") == sleeps[::-1]  # by actor
    assert await search(state="delayed") == [delayed]
    assert await search(q=delayed[:14]) == [j for j in everything[::-1] if j.startswith(delayed[:14])]
    assert await search(q=delayed) == [delayed]  # a whole id
    assert await search(queue="other") == []
    # removed jobs leave the index
    registry.run(actions.delete(delayed, Q))
    assert delayed not in await search()
