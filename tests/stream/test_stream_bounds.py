"""What one viewer may cost the gateway: bounded replays, connections per address, strict ids."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from typing import Any, cast

import aiohttp
import pytest
import redis
from aiohttp.test_utils import TestClient

from services.stream import replay
from services.stream.clients import Clients
from services.stream.main import build_app
from services.stream.state import CLIENTS
from shared import keys
from shared.config import Settings
from tests.helpers import backfill
from tests.stream.conftest import AUTH, open_stream
from tests.typed_redis import Entries


async def bounded_gateway(aiohttp_client: Callable[..., Any], settings: Settings, **bounds: Any) -> Any:
    client: TestClient[Any, Any] = await aiohttp_client(build_app(dataclasses.replace(settings, **bounds)))
    return client


async def test_a_replay_within_the_bound_is_exact_across_many_pages(
    aiohttp_client: Callable[..., Any], settings: Settings, raw: redis.Redis
) -> None:
    # Given 1,000 events in the stream (five pages) and a client that saw the first 10
    newest = backfill(raw, 1000)
    gateway = await bounded_gateway(aiohttp_client, settings, stream_replay_max_events=1000)
    # When it resumes
    resumed = await open_stream(gateway, topics="jobs", last_id=10)
    # Then it gets exactly the 990 it missed, in order, and no snapshot
    replayed = await resumed.take(990, kinds=("job", "snapshot", "reset"))
    assert [e.event for e in replayed] == ["job"] * 990
    assert [e.seq for e in replayed] == list(range(11, newest + 1))
    resumed.close()


async def test_a_resume_further_behind_than_the_bound_gets_a_reset_and_a_snapshot(
    aiohttp_client: Callable[..., Any], settings: Settings, raw: redis.Redis
) -> None:
    # Given 300 events and a gateway that replays at most 100
    newest = backfill(raw, 300)
    gateway = await bounded_gateway(aiohttp_client, settings, stream_replay_max_events=100)
    # When a client resumes from seq 1 (299 behind)
    far = await open_stream(gateway, topics="jobs", last_id=1)
    # Then it is told to start over, with a snapshot as of the newest event, not a replay
    first, second = await far.next(), await far.next()
    assert (first.event, second.event) == ("reset", "snapshot")
    assert second.id == str(newest)
    far.close()
    # and a client 100 behind still gets its replay
    near = await open_stream(gateway, topics="jobs", last_id=newest - 100)
    assert [e.seq for e in await near.take(100)] == list(range(newest - 99, newest + 1))
    near.close()


async def test_a_replay_past_its_byte_bound_ends_in_a_reset(
    aiohttp_client: Callable[..., Any], settings: Settings, raw: redis.Redis
) -> None:
    # Given 300 events of ~2 KB and a gateway that sends at most 100 KB of replay
    backfill(raw, 300, data_bytes=2000)
    gateway = await bounded_gateway(
        aiohttp_client, settings, stream_replay_max_events=1000, stream_replay_max_bytes=100_000
    )
    # When a client resumes from seq 1 (~600 KB to replay)
    resumed = await open_stream(gateway, topics="jobs", last_id=1)
    kinds = [e.event for e in await resumed.take(2, kinds=("job", "reset", "snapshot"))]
    # Then it gets a reset and a snapshot instead (the first page alone is past the bound)
    assert kinds == ["reset", "snapshot"]
    resumed.close()


async def test_replay_reads_a_page_at_a_time(settings: Settings, raw: redis.Redis) -> None:
    # Given 1,000 events
    newest = backfill(raw, 1000)
    client = redis.asyncio.Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        # When the events after seq 100 are read
        position = await replay.locate(client, 100, 10_000)
        assert position is not None
        sizes = [len(page) async for page in replay.pages(client, position)]
        # Then they come in pages of at most BATCH, all of them
        assert max(sizes) == replay.BATCH and sum(sizes) == newest - 100
        # and a reader whose own event was trimmed away, or who is ahead of the stream, starts over
        first_ids = cast(Entries, await client.xrange(keys.EVENTS_STREAM, count=50))
        await client.xdel(keys.EVENTS_STREAM, *[entry_id for entry_id, _ in first_ids])
        assert await replay.locate(client, 10, 10_000) is None
        assert await replay.locate(client, newest + 5, 10_000) is None
        assert await replay.read_after(client, 50, 10_000) is not None  # seq 51 on: all there
    finally:
        await client.aclose()


async def test_connections_per_client_address_are_capped_and_given_back(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> None:
    # Given a gateway that lets one address hold two stream connections
    gateway = await bounded_gateway(aiohttp_client, settings, stream_max_connections_per_address=2)
    held = [await open_stream(gateway), await open_stream(gateway)]
    # When the same address opens a third, over SSE or WebSocket
    for path in ("/stream", "/ws"):
        refused = await gateway.get(path, headers=AUTH)
        # Then it is refused with a JSON 429
        assert refused.status == 429
        assert (await refused.json())["error"]["code"] == "too_many_connections"
    metrics = await (await gateway.get("/metrics")).text()
    assert "facequeue_stream_refused_connections_total 2.0" in metrics
    # and once one closes, the address may connect again
    held.pop().close()
    deadline = time.monotonic() + 10
    while True:
        again = await gateway.get("/stream", headers=AUTH)
        if again.status == 200:
            again.close()
            break
        assert again.status == 429 and time.monotonic() < deadline
        again.release()
        await asyncio.sleep(0.05)
    held.pop().close()


@pytest.mark.parametrize(
    ("header", "query"),
    [
        (None, "\u0663"),  # Arabic-Indic three: str.isdigit() says yes
        ("\u00b2", None),  # superscript two: isdigit() yes, int() raises (was a 500)
        ("1" * 16, None),
        ("-1", None),
        ("1e3", None),
        (None, "\uff11"),  # fullwidth one
    ],
)
async def test_event_ids_are_ascii_digits_only(
    gateway: TestClient[Any, Any], header: str | None, query: str | None
) -> None:
    headers = {**AUTH, **({"Last-Event-ID": header} if header is not None else {})}
    params = {"last_event_id": query} if query is not None else {}
    response = await gateway.get("/stream", headers=headers, params=params)
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "bad_request"


@pytest.mark.parametrize("queue", ["a.b", "dramatiq:x", "x" * 65, "face_search\n"])
async def test_queue_filters_follow_the_name_rule(gateway: TestClient[Any, Any], queue: str) -> None:
    response = await gateway.get("/stream", headers=AUTH, params={"queue": queue})
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "bad_request"


async def test_a_refused_websocket_upgrade_is_json(gateway: TestClient[Any, Any]) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await gateway.ws_connect("/ws", headers=AUTH, params={"last_event_id": "\u0663"})
    assert refused.value.status == 400


async def test_replays_wait_for_the_snapshot_slots_like_snapshots(
    aiohttp_client: Callable[..., Any], settings: Settings, raw: redis.Redis
) -> None:
    # Given a gateway whose snapshot slots are all taken (a reconnect storm)
    newest = backfill(raw, 50)
    gateway = await bounded_gateway(aiohttp_client, settings)
    slots = gateway.app[CLIENTS].snapshot_slots
    for _ in range(Clients.SNAPSHOT_CONCURRENCY):
        await slots.acquire()
    # When a client resumes
    resumed = await open_stream(gateway, topics="jobs", last_id=newest - 10)
    # Then its replay waits for a slot, sending nothing meanwhile
    first = asyncio.create_task(resumed.next(timeout=10))
    await asyncio.sleep(0.5)  # a bounded watch: nothing may arrive in it
    assert not first.done()
    # and goes ahead once one is free
    slots.release()
    replayed = [await first, *await resumed.take(9)]
    assert [e.seq for e in replayed] == list(range(newest - 9, newest + 1))
    for _ in range(Clients.SNAPSHOT_CONCURRENCY - 1):
        slots.release()
    resumed.close()


async def test_behind_a_trusted_proxy_each_client_has_its_own_cap(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> None:
    # Given a gateway behind a trusted proxy (loopback here) that lets one address hold one connection
    gateway = await bounded_gateway(
        aiohttp_client, settings, stream_max_connections_per_address=1, trusted_proxies=("127.0.0.1/32",)
    )
    # When two clients connect through the proxy
    first = await open_stream(gateway, headers={"X-Forwarded-For": "203.0.113.7"})
    second = await open_stream(gateway, headers={"X-Forwarded-For": "203.0.113.8"})
    # Then both are served, and only a second connection of the same client is refused
    again = await gateway.get("/stream", headers={**AUTH, "X-Forwarded-For": "203.0.113.7"})
    assert again.status == 429
    assert (await again.json())["error"]["code"] == "too_many_connections"
    first.close()
    second.close()
