"""Every audited admin action records the client address it came from (through trusted proxies)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import redis

from services.api.main import build_app
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.config import Settings
from shared.registry import Registry
from shared.submit import submit
from tests.api.conftest import ADMIN
from tests.api.test_operations import run_all


async def test_audit_entries_carry_who_and_the_real_client_address(
    aiohttp_client: Callable[..., Any], settings: Settings, registry: Registry, raw: redis.Redis
) -> None:
    # Given the API behind a trusted proxy on loopback
    proxied = dataclasses.replace(settings, trusted_proxies=("127.0.0.1/32",))
    api = await aiohttp_client(build_app(proxied))
    job = submit(registry, "noop", delay_ms=600_000)
    via = {**ADMIN, "X-Forwarded-For": "198.51.100.7"}
    # When an admin acts through it: one job, a queue, a bulk action
    assert (await api.post(f"/api/v1/jobs/{job}/promote", headers=via)).status == 200
    # (the job's timeline says who, without the address)
    (promoted,) = [e for e in registry.get(job).timeline if e.get("reason") == "promote"]
    assert promoted["who"] == "FQ_ADMIN_TOKEN"
    assert (await api.post(f"/api/v1/queues/{Q}/pause", headers=via)).status == 200
    body = {"action": "delete", "filter": {"queue": Q, "state": "waiting"}}
    assert (await api.post("/api/v1/jobs/bulk", json=body, headers=via)).status == 202
    await run_all(settings)
    # Then each audit entry names the role and the client's address, not the proxy's
    entries = (await (await api.get("/api/v1/audit", headers=ADMIN)).json())["entries"]
    actions = {"promote", "pause", "operation_delete:created", "operation_delete:done"}
    assert {e["action"] for e in entries} == actions
    assert {(e["who"], e["address"]) for e in entries} == {("FQ_ADMIN_TOKEN", "198.51.100.7")}
    # A caller the proxy list does not cover is recorded by its own address
    direct = await aiohttp_client(build_app(settings))
    assert (await direct.post(f"/api/v1/queues/{Q}/resume", headers=via)).status == 200
    latest = (await (await direct.get("/api/v1/audit", headers=ADMIN)).json())["entries"][0]
    assert (latest["action"], latest["who"], latest["address"]) == ("resume", "FQ_ADMIN_TOKEN", "127.0.0.1")
