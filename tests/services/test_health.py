"""Every HTTP process serves /healthz, /readyz and /metrics over real loopback HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
import json
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
from shared.http import Runner

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


async def _raw_exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize("build", APPS)
async def test_a_request_aiohttp_cannot_parse_gets_the_json_error_body(
    settings: Settings, build: Callable[[Settings], web.Application]
) -> None:
    # Given a service run by the runner every process uses (shared.http.serve)
    runner = Runner(build(settings), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        # When a request line is longer than aiohttp reads, or a header line is malformed
        too_long = b"GET /api/v1/jobs?q=" + b"x" * 10_000 + b" HTTP/1.1\r\nHost: t\r\n\r\n"
        malformed = b"GET /healthz HTTP/1.1\r\nHost: t\r\nno colon here\r\n\r\n"
        for request in (too_long, malformed):
            status, headers, body = await _raw_exchange(port, request)
            # Then the answer is a 4xx with the same JSON error body as every other error
            assert 400 <= status < 500 and headers["content-type"].startswith("application/json")
            error = json.loads(body)["error"]
            assert error["code"] == "bad_request" and error["message"]
    finally:
        await runner.cleanup()
