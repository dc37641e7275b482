"""Every admin action, single and bulk, leaves its audit entry, and the registry stays consistent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis
from aiohttp.test_utils import TestClient

from services.api.main import build_app
from shared import galleries
from shared.config import Settings
from shared.galleries import EMBEDDING_BYTES, Identity
from shared.registry import Registry
from shared.states import JobState
from shared.submit import submit
from tests.api.test_operations import run_all
from tests.processes import wait_for
from tests.reliability import invariants

ADMIN = {"Authorization": "Bearer test-admin-token-with-thirty-two-chars"}
Q = "diagnostics"


async def test_each_admin_action_is_audited_with_who_and_how_many(
    aiohttp_client: Callable[..., Any],
    settings: Settings,
    registry: Registry,
    raw: redis.Redis,
    start_worker: Callable[..., Any],
) -> None:
    api: TestClient[Any, Any] = await aiohttp_client(build_app(settings))
    group = start_worker()
    failed = [submit(registry, "fail", max_retries=0) for _ in range(3)]
    wait_for(lambda: all(registry.get(j).state is JobState.FAILED for j in failed), what="failures")
    group.stop()
    delayed = [submit(registry, "noop", delay_ms=600_000) for _ in range(4)]
    waiting = [submit(registry, "noop") for _ in range(5)]
    registry.run(galleries.enroll("g", Identity("p1", "Person"), b"\0" * EMBEDDING_BYTES))
    registry.run(galleries.enroll("g", Identity("p2", "Other"), b"\0" * EMBEDDING_BYTES))

    async def call(method: str, path: str, **kwargs: Any) -> Any:
        response = await api.request(method, path, headers=ADMIN, **kwargs)
        assert response.status < 300, (path, await response.text())
        return await response.json()

    await call("POST", f"/api/v1/queues/{Q}/pause")
    await call("POST", f"/api/v1/queues/{Q}/resume")
    await call("POST", f"/api/v1/jobs/{failed[0]}/retry")
    await call("POST", f"/api/v1/jobs/{delayed[0]}/promote")
    await call("PUT", f"/api/v1/jobs/{waiting[0]}/priority", json={"priority": 0})
    await call("DELETE", f"/api/v1/jobs/{waiting[1]}")
    # Bulk and clean are operations (issue 20): created here, run by the monitor's runner
    bulk_retry = await call("POST", "/api/v1/jobs/bulk", json={"action": "retry", "ids": failed[1:2]})
    bulk_promote = await call(
        "POST", "/api/v1/jobs/bulk", json={"action": "promote", "filter": {"queue": Q, "state": "delayed"}}
    )
    bulk_delete = await call("POST", "/api/v1/jobs/bulk", json={"action": "delete", "ids": waiting[2:]})
    cleaned = await call("POST", f"/api/v1/queues/{Q}/clean", json={"states": ["completed", "failed"]})
    await run_all(settings)
    await call("DELETE", "/api/v1/galleries/g/identities/p1")
    await call("DELETE", "/api/v1/galleries/g")
    made = [bulk_retry, bulk_promote, bulk_delete, *cleaned["operations"]]
    ops = [await call("GET", f"/api/v1/operations/{op['id']}") for op in made]
    # The clean's target was fixed at creation (failed[1] and [2]); the retry ran first, so one is left
    assert [op["done"] for op in ops] == [1, 3, 3, 0, 1]

    audited = invariants.audit_actions(raw)
    for action in (
        "pause",
        "resume",
        "retry",
        "promote",
        "priority",
        "delete",
        "forget_identity",
        "delete_gallery",
    ):
        assert audited[action] >= 1, (action, audited)
    entries = (await call("GET", "/api/v1/audit?limit=1000"))["entries"]
    assert {e["who"] for e in entries} == {"FQ_ADMIN_TOKEN"}
    assert sum(e["count"] for e in entries if e["action"] == "promote") == 1
    assert sum(e["count"] for e in entries if e["action"] == "retry") == 1
    assert sum(e["count"] for e in entries if e["action"] == "delete") == 1
    finished = sorted((e["action"], e["count"]) for e in entries if e["action"].endswith(":done"))
    assert finished == [
        ("operation_clean:done", 0),  # completed: none
        ("operation_clean:done", 1),  # failed[2]
        ("operation_delete:done", 3),
        ("operation_promote:done", 3),
        ("operation_retry:done", 1),
    ]
    per_state = invariants.check(raw)
    assert sum(per_state.values()) == len(failed) + len(delayed) + len(waiting) - 1 - 3 - 1
