"""An SSE connection leaves aiohttp once its headers are out (issue 25: idle memory per client)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from services.stream.clients import Client, Clients
from services.stream.handover import Handover
from services.stream.peers import AddressCap
from services.stream.state import ADDRESS_CAP, CLIENTS
from shared.registry import Registry
from shared.submit import submit
from tests.stream.conftest import open_stream


def app_of(gateway: TestClient[Any, Any]) -> web.Application:
    app = gateway.app
    assert isinstance(app, web.Application)
    return app


def only_client(gateway: TestClient[Any, Any]) -> Client:
    clients: Clients = app_of(gateway)[CLIENTS]
    [client] = list(clients)
    return client


def aiohttp_connections(gateway: TestClient[Any, Any]) -> int:
    runner = gateway.server.runner
    assert runner is not None and isinstance(runner.server, web.Server)
    return len(runner.server.connections)


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


async def test_a_live_sse_client_is_held_by_its_handover_alone(
    gateway: TestClient[Any, Any], registry: Registry
) -> None:
    # Given a client past its snapshot
    stream = await open_stream(gateway, topics="jobs")
    assert (await stream.next()).event == "snapshot"
    client = only_client(gateway)
    # Then its connection is no longer aiohttp's: no request handler, no task once it is live
    assert isinstance(client.owner, Handover)
    await eventually(lambda: client.task is None and client.live is not None)
    assert aiohttp_connections(gateway) == 0
    # and it still gets every change as it happens
    job = submit(registry, "noop")
    event = await stream.until(lambda e: e.event == "job")
    assert event.json["data"]["job"] == job
    # When it leaves, it is removed, and its address's connection is given back
    stream.close()
    cap: AddressCap = app_of(gateway)[ADDRESS_CAP]
    clients: Clients = app_of(gateway)[CLIENTS]
    await eventually(lambda: len(clients) == 0 and cap.open("127.0.0.1") == 0)
    metrics = await (await gateway.get("/metrics")).text()
    assert 'facequeue_stream_disconnects_total{reason="client"} 1.0' in metrics


async def test_a_handed_over_stream_closed_by_the_gateway_ends_cleanly(gateway: TestClient[Any, Any]) -> None:
    # Given a live client
    stream = await open_stream(gateway, topics="jobs")
    assert (await stream.next()).event == "snapshot"
    client = only_client(gateway)
    await eventually(lambda: client.task is None and client.live is not None)
    # When the gateway closes it (as a drain does)
    client.close("drain")
    # Then its body reaches its end (the last chunk, not a reset), and it counts as drained
    async with asyncio.timeout(5):
        while await stream.response.content.readany():
            pass
    assert stream.response.content.at_eof()
    clients: Clients = app_of(gateway)[CLIENTS]
    await eventually(lambda: len(clients) == 0)
    metrics = await (await gateway.get("/metrics")).text()
    assert 'facequeue_stream_disconnects_total{reason="drain"} 1.0' in metrics
