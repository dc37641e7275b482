"""Every HTTP process serves /healthz, /readyz and /metrics over real loopback HTTP."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from devstack.localredis import free_port
from services.api.main import build_app as api_app
from services.monitor.main import build_app as monitor_app
from services.stream.main import build_app as stream_app
from shared.config import Settings

APPS: list[Callable[[Settings], web.Application]] = [api_app, stream_app, monitor_app]


@pytest.mark.parametrize("build", APPS)
async def test_healthz_readyz_and_metrics_answer(
    aiohttp_client: Callable[..., Any], settings: Settings, build: Callable[[Settings], web.Application]
) -> None:
    client: TestClient[Any, Any] = await aiohttp_client(build(settings))
    health = await client.get("/healthz")
    assert health.status == 200 and await health.json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status == 200 and await ready.json() == {"status": "ready"}
    metrics = await client.get("/metrics")
    assert metrics.status == 200 and metrics.headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize("build", APPS)
async def test_readyz_is_503_with_a_json_error_when_redis_is_unreachable(
    aiohttp_client: Callable[..., Any], settings: Settings, build: Callable[[Settings], web.Application]
) -> None:
    dead = dataclasses.replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    client: TestClient[Any, Any] = await aiohttp_client(build(dead))
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    body = await ready.json()
    assert ready.status == 503 and body["error"]["code"] == "redis_unavailable" and body["error"]["message"]
