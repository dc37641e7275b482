"""Schedules over real HTTP: read by anyone signed in, created, changed, paused, run and deleted
by an admin, every bad input a 4xx (issue 21)."""

from __future__ import annotations

from typing import Any

import redis
from aiohttp.test_utils import TestClient

from services.monitor.schedules import ScheduleFirer
from shared import keys
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.config import Settings
from shared.registry import AsyncRegistry, Registry
from shared.schedules import Schedule, save
from tests import typed_redis
from tests.api.conftest import ADMIN, VIEWER

NIGHTLY = {
    "name": "nightly",
    "cron": "0 3 * * *",
    "timezone": "Europe/Berlin",
    "actor": "sleep",
    "args": [0.01],
}


async def test_schedule_lifecycle_over_http(api: TestClient[Any, Any], raw: redis.Redis) -> None:
    # Created by an admin: 201 with its next fire time, its queue from the catalog, source "api"
    response = await api.post("/api/v1/schedules", json=NIGHTLY, headers=ADMIN)
    assert response.status == 201, await response.text()
    created = await response.json()
    assert (created["queue"], created["source"], created["misfire"], created["enabled"]) == (
        Q,
        "api",
        "skip",
        True,
    )
    assert created["next_ms"] > 0 and created["last_job"] is None
    # Listed and read by a viewer
    listed = await (await api.get("/api/v1/schedules", headers=VIEWER)).json()
    assert [s["name"] for s in listed["schedules"]] == ["nightly"]
    assert (await api.get("/api/v1/schedules/nightly", headers=VIEWER)).status == 200
    # Run now: a normal job linked to its schedule, shown as the last job
    response = await api.post("/api/v1/schedules/nightly/run", headers=ADMIN)
    assert response.status == 201
    job_id = (await response.json())["job"]
    job = await (await api.get(f"/api/v1/jobs/{job_id}", headers=VIEWER)).json()
    assert (job["schedule"], job["actor"], job["state"]) == ("nightly", "sleep", "waiting")
    got = await (await api.get("/api/v1/schedules/nightly", headers=VIEWER)).json()
    assert (got["last_job"], got["last_job_state"]) == (job_id, "waiting")
    assert got["next_ms"] == created["next_ms"]
    # Paused: no next time; resumed: one again
    body = {k: v for k, v in NIGHTLY.items() if k != "name"}
    paused = await (
        await api.put("/api/v1/schedules/nightly", json={**body, "enabled": False}, headers=ADMIN)
    ).json()
    assert (paused["enabled"], paused["next_ms"]) == (False, None)
    resumed = await (await api.put("/api/v1/schedules/nightly", json=body, headers=ADMIN)).json()
    assert resumed["next_ms"] == created["next_ms"]
    # Every change is audited with who
    actions = [f["action"] for _, f in typed_redis.xrange(raw, keys.AUDIT_STREAM)]
    assert actions == ["schedule_created", "schedule_run", "schedule_paused", "schedule_resumed"]
    assert {f["who"] for _, f in typed_redis.xrange(raw, keys.AUDIT_STREAM)} == {"FQ_ADMIN_TOKEN"}
    # Deleted: gone, its job stays
    assert (await api.delete("/api/v1/schedules/nightly", headers=ADMIN)).status == 204
    assert (await api.get("/api/v1/schedules/nightly", headers=VIEWER)).status == 404
    assert (await api.get(f"/api/v1/jobs/{job_id}", headers=VIEWER)).status == 200


async def test_bad_schedules_are_refused_and_change_nothing(
    api: TestClient[Any, Any], raw: redis.Redis
) -> None:
    for bad, status in (
        ({**NIGHTLY, "cron": "61 * * * *"}, 422),
        ({**NIGHTLY, "cron": "* * * *"}, 422),
        ({**NIGHTLY, "cron": "@sometimes"}, 422),
        ({**NIGHTLY, "timezone": "Mars/Olympus"}, 422),
        ({**NIGHTLY, "timezone": "../../etc/passwd"}, 422),
        ({**NIGHTLY, "actor": "no_such_actor"}, 422),
        ({**NIGHTLY, "args": ["not a number"]}, 422),
        ({**NIGHTLY, "queue": "face_search"}, 422),
        ({**NIGHTLY, "misfire": "sometimes"}, 422),
        ({**NIGHTLY, "priority": 100}, 422),
        ({**NIGHTLY, "enabled": "yes"}, 422),
        ({**NIGHTLY, "name": "a:b"}, 422),
        ({**NIGHTLY, "extra": 1}, 422),
    ):
        response = await api.post("/api/v1/schedules", json=bad, headers=ADMIN)
        assert response.status == status, (bad, await response.text())
        assert (await response.json())["error"]["code"]
    assert not raw.exists(keys.SCHEDULES)
    # A viewer cannot create, change, run or delete
    assert (await api.post("/api/v1/schedules", json=NIGHTLY, headers=VIEWER)).status == 403
    assert (await api.post("/api/v1/schedules", json=NIGHTLY, headers=ADMIN)).status == 201
    assert (await api.post("/api/v1/schedules", json=NIGHTLY, headers=ADMIN)).status == 409
    assert (await api.post("/api/v1/schedules/nightly/run", headers=VIEWER)).status == 403
    assert (await api.delete("/api/v1/schedules/nightly", headers=VIEWER)).status == 403
    # Unknown names are 404, malformed ones 400
    body = {k: v for k, v in NIGHTLY.items() if k != "name"}
    assert (await api.put("/api/v1/schedules/other", json=body, headers=ADMIN)).status == 404
    assert (await api.post("/api/v1/schedules/other/run", headers=ADMIN)).status == 404
    assert (await api.delete("/api/v1/schedules/other", headers=ADMIN)).status == 404
    assert (await api.get("/api/v1/schedules/a:b", headers=VIEWER)).status in (400, 404)


async def test_a_schedule_declared_in_code_is_shown_as_such_and_changes_only_its_enabled_flag(
    api: TestClient[Any, Any], raw: redis.Redis, registry: Registry
) -> None:
    # Given a schedule a worker published from its code
    declared = Schedule("reindex", "0 3 * * *", "sleep", Q, args=[0.01], source="code")
    assert registry.run(save(declared, registry.now_ms(), mode="code", who="worker"))
    # Then the API shows its source
    got = await (await api.get("/api/v1/schedules/reindex", headers=VIEWER)).json()
    assert (got["source"], got["cron"], got["enabled"]) == ("code", "0 3 * * *", True)
    body = {"cron": "0 3 * * *", "timezone": "UTC", "actor": "sleep", "args": [0.01]}
    # A change of its definition is refused, and changes nothing
    response = await api.put("/api/v1/schedules/reindex", json={**body, "cron": "0 4 * * *"}, headers=ADMIN)
    assert response.status == 409
    assert (await response.json())["error"]["code"] == "declared_in_code"
    assert raw.hget(keys.schedule_key("reindex"), "cron") == "0 3 * * *"
    # Its enabled flag alone may change: paused, still from code
    response = await api.put("/api/v1/schedules/reindex", json={**body, "enabled": False}, headers=ADMIN)
    assert response.status == 200, await response.text()
    paused = await response.json()
    assert (paused["enabled"], paused["source"], paused["next_ms"]) == (False, "code", None)
    # It cannot be deleted here (it lives in code): 409, and it stays
    response = await api.delete("/api/v1/schedules/reindex", headers=ADMIN)
    assert response.status == 409
    assert (await response.json())["error"]["code"] == "declared_in_code"
    assert raw.hget(keys.schedule_key("reindex"), "source") == "code"
    assert raw.zscore(keys.SCHEDULES, "reindex") is not None
    # and it can still be run now
    assert (await api.post("/api/v1/schedules/reindex/run", headers=ADMIN)).status == 201


async def test_a_schedule_that_cannot_fire_shows_why(
    api: TestClient[Any, Any], registry: Registry, settings: Settings
) -> None:
    # Given a schedule whose arguments its actor no longer takes, due a minute ago
    now = registry.now_ms()
    broken = Schedule("broken", "* * * * *", "sleep", Q, args=["not a number"])
    registry.run(save(broken, now - 2 * 60_000, mode="create", who="test"))
    # When the monitor tries to fire it
    firer = ScheduleFirer(AsyncRegistry(settings))
    try:
        assert await firer.fire_due(now) == []
    finally:
        await firer.registry.close()
    # Then the API shows the error, and its next time is in the future
    got = await (await api.get("/api/v1/schedules/broken", headers=VIEWER)).json()
    assert got["last_error"].startswith("InvalidArguments"), got
    assert got["next_ms"] > now and got["last_job"] is None
