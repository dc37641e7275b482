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
    bulk_retry = await call("POST", "/api/v1/jobs/bulk", json={"action": "retry", "ids": failed[1:2]})
    bulk_promote = await call(
        "POST", "/api/v1/jobs/bulk", json={"action": "promote", "filter": {"queue": Q, "state": "delayed"}}
    )
    bulk_delete = await call("POST", "/api/v1/jobs/bulk", json={"action": "delete", "ids": waiting[2:]})
    await call("POST", f"/api/v1/queues/{Q}/pause")  # so nothing runs while the counts are checked
    cleaned = await call("POST", f"/api/v1/queues/{Q}/clean", json={"states": ["completed", "failed"]})
    assert cleaned["removed"] == {"completed": 0, "failed": 1}  # failed[2], never retried
    await call("DELETE", "/api/v1/galleries/g/identities/p1")
    await call("DELETE", "/api/v1/galleries/g")
    assert (bulk_retry["done"], bulk_promote["done"], bulk_delete["done"]) == (1, 3, 3)

    audited = invariants.audit_actions(raw)
    for action in (
        "pause",
        "resume",
        "retry",
        "promote",
        "priority",
        "delete",
        "clean",
        "forget_identity",
        "delete_gallery",
    ):
        assert audited[action] >= 1, (action, audited)
    entries = (await call("GET", "/api/v1/audit?limit=1000"))["entries"]
    assert {e["who"] for e in entries} == {"FQ_ADMIN_TOKEN"}
    assert sum(e["count"] for e in entries if e["action"] == "promote") == 1 + 3
    assert sum(e["count"] for e in entries if e["action"] == "retry") == 1 + 1
    assert sum(e["count"] for e in entries if e["action"] == "clean") == 1
    assert sum(e["count"] for e in entries if e["action"] == "delete") == 1 + 3
    per_state = invariants.check(raw)
    assert sum(per_state.values()) == len(failed) + len(delayed) + len(waiting) - 1 - 3 - 1
