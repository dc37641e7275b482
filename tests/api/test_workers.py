"""``/api/v1/workers`` over real HTTP, with real worker subprocesses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import pytest
import redis
from aiohttp.test_utils import TestClient

from services.api.main import build_app
from shared import transitions, worker_calls
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.config import Settings
from shared.registry import Registry
from shared.states import JobState
from shared.submit import submit
from tests import typed_redis
from tests.api.conftest import ADMIN, VIEWER
from tests.helpers import transitions_of
from tests.processes import wait_for


async def test_list_workers_shows_each_process_with_its_status(
    api: TestClient[Any, Any], raw: redis.Redis, start_worker: Callable[..., Any]
) -> None:
    start_worker(worker_threads=2)
    response = await api.get("/api/v1/workers", headers=VIEWER)
    assert response.status == 200
    (worker,) = (await response.json())["workers"]
    assert worker["id"] == raw.zrange("fq:workers", 0, -1)[0]
    assert (worker["status"], worker["threads"], worker["queues"]) == ("alive", 2, [Q])


async def test_removing_a_live_worker_drains_it_and_loses_no_job(
    api: TestClient[Any, Any], registry: Registry, raw: redis.Redis, start_worker: Callable[..., Any]
) -> None:
    # Given a worker running a job
    group = start_worker()
    (worker_id,) = typed_redis.zrange(raw, "fq:workers")
    job_id = submit(registry, "sleep", {"seconds": 1.0})
    wait_for(lambda: registry.get(job_id).state is JobState.ACTIVE, what="job to start")
    # When an admin removes it
    response = await api.delete(f"/api/v1/workers/{worker_id}", headers=ADMIN)
    assert response.status == 202
    assert await response.json() == {"worker": worker_id, "outcome": "draining"}
    # Then it finishes its job and exits cleanly, and is forgotten
    wait_for(lambda: group.process.poll() is not None, timeout=30, what="worker exit")
    assert group.process.returncode == 0, group.log()
    job = registry.get(job_id)
    assert job.state is JobState.COMPLETED and job.attempts == 1
    assert transitions_of(raw, job_id).count(("waiting", "active")) == 1
    assert not raw.zrange("fq:workers", 0, -1) and not raw.exists(f"fq:worker:{worker_id}")
    audit = typed_redis.xrange(raw, "fq:audit")
    assert [(f["action"], f["target"], f["outcome"]) for _, f in audit] == [
        ("remove_worker", worker_id, "draining")
    ]


async def test_removing_a_dead_worker_requeues_its_jobs_and_forgets_it(
    api: TestClient[Any, Any], registry: Registry, raw: redis.Redis
) -> None:
    # Given a worker that stopped beating while holding a job
    job_id = submit(registry, "noop")
    registry.run(transitions.dispatch(Q, 10))
    registry.run(transitions.start(job_id, Q, 0, "ghost"))
    registry.run(worker_calls.worker_beat("ghost", {"pid": 1}))
    raw.zadd("fq:workers", {"ghost": 0})
    # When an admin removes it
    response = await api.delete("/api/v1/workers/ghost", headers=ADMIN)
    # Then it is forgotten and its job is waiting again
    assert response.status == 200 and (await response.json())["outcome"] == "forgotten"
    assert registry.get(job_id).state is JobState.WAITING
    assert not raw.exists("fq:worker:ghost") and raw.zscore("fq:workers:dead", "ghost") is None


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "code"),
    [
        ("DELETE", "/api/v1/workers/nobody", ADMIN, 404, "worker_not_found"),
        ("DELETE", "/api/v1/workers/nobody", VIEWER, 403, "forbidden"),
        ("DELETE", "/api/v1/workers/nobody", {}, 401, "unauthorized"),
        ("GET", "/api/v1/workers", {}, 401, "unauthorized"),
        ("GET", "/api/v1/workers", {"Authorization": "Bearer wrong"}, 401, "unauthorized"),
        ("POST", "/api/v1/workers", ADMIN, 405, "method_not_allowed"),
        ("GET", "/api/v1/nothing-here", ADMIN, 404, "not_found"),
    ],
)
async def test_errors_are_json_with_the_right_status_and_change_nothing(
    api: TestClient[Any, Any],
    raw: redis.Redis,
    method: str,
    path: str,
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    response = await api.request(method, path, headers=headers)
    assert response.status == status
    body = await response.json()
    assert body["error"]["code"] == code and body["error"]["message"]
    # nothing written, but the failed-credentials counters of the rate limit
    counters = ("fq:login-failures:", "fq:token-failures:")
    assert [k for k in cast(list[str], raw.keys("*")) if not k.startswith(counters)] == []


async def test_api_refuses_everything_when_no_token_is_configured(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> None:
    import dataclasses

    open_settings = dataclasses.replace(settings, admin_token="", viewer_token="")
    client: TestClient[Any, Any] = await aiohttp_client(build_app(open_settings))
    response = await client.get("/api/v1/workers", headers={"Authorization": "Bearer "})
    assert response.status == 401 and "FQ_ADMIN_TOKEN" in (await response.json())["error"]["message"]
    assert (await client.get("/healthz")).status == 200
