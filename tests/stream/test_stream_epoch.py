"""A failover that lost the last events and reused their numbers resets clients (issue 17)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from aiohttp.test_utils import TestClient

from devstack import localredis
from services.stream.fanout import stream_id
from services.stream.main import build_app
from shared import keys
from shared.config import Settings
from shared.registry import Registry
from shared.submit import submit
from tests import typed_redis
from tests.processes import stop
from tests.stream.conftest import stream_past_five_jobs


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[str]:
    proc, url = localredis.start(tmp_path / "r")
    yield url
    stop(proc, timeout=10)


def test_the_stream_id_is_read_from_the_envelope() -> None:
    payload = '{"v":1,"seq":7,"id":"1764383112418-0","ts":1.0,"type":"job","data":{"id":"x"}}'
    assert stream_id(payload) == "1764383112418-0"
    assert stream_id('{"v":1,"seq":7,"type":"stats"}') is None


async def test_events_renumbered_by_a_failover_reset_clients(
    aiohttp_client: Callable[..., Any], settings: Settings, private_redis: str
) -> None:
    own = dataclasses.replace(settings, redis_url=private_redis)
    registry = Registry(own)
    raw = redis.Redis.from_url(private_redis, decode_responses=True)
    gateway: TestClient[Any, Any] = await aiohttp_client(build_app(own))
    try:
        stream, seen = await stream_past_five_jobs(gateway, registry)
        assert [e.seq for e in seen] == [1, 2, 3, 4, 5]
        # Given a new primary that never got events 4 and 5 (they were not replicated)...
        for entry_id, _ in typed_redis.xrange(raw, keys.EVENTS_STREAM)[3:]:
            raw.xdel(keys.EVENTS_STREAM, entry_id)
        raw.set(keys.EVENTS_SEQ, 3)
        # ...and numbered its own next events 4 and 5, while the gateway's subscription was moving
        submit(registry, "noop")
        submit(registry, "noop")
        # (RESP3 subscribers are not of TYPE pubsub: find them by their subscriptions)
        for client in raw.client_list():
            if int(client.get("sub", 0)):
                raw.client_kill_filter(_id=client["id"])
        # Then the resubscribed gateway sees its last event is not in the stream and resets the client
        reset = await stream.until(lambda e: e.event == "reset", timeout=10)
        snapshot = await stream.next()
        assert snapshot.event == "snapshot" and reset.event == "reset"
        assert snapshot.id == "5"
        # And the next event follows the new history
        await asyncio.to_thread(submit, registry, "noop")
        assert (await stream.until(lambda e: e.event == "job")).seq == 6
        stream.close()
    finally:
        registry.close()
        raw.close()
