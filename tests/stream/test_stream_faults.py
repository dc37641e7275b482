"""The gateway under faults: its own crash, Redis restarts, stalled clients, shutdown."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis
from aiohttp.test_utils import TestClient

from devstack import localredis
from services.stream.main import build_app
from shared import keys
from shared.config import Settings
from shared.registry import Registry
from shared.submit import submit
from tests.processes import ServiceProcess, stop, wait_for
from tests.stream.conftest import Stream, open_stream, stream_past_five_jobs, url_of
from tests.stream_client import SseEvent


async def test_gateway_killed_and_restarted_mid_stream_loses_nothing(
    registry: Registry, start_gateway: Callable[..., ServiceProcess]
) -> None:
    first = start_gateway()
    async with aiohttp.ClientSession() as session:
        stream = await open_stream(url_of(first), session, topics="jobs")
        await stream.next()
        for _ in range(20):
            submit(registry, "noop")
        seen = await stream.take(20)
        # When the gateway dies without warning, and events keep happening
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait()
        stream.close()
        for _ in range(100):
            submit(registry, "noop")
        # Then a new gateway serves the reconnecting client everything after its last id
        second = start_gateway()
        for _ in range(30):
            submit(registry, "noop")
        resumed = await open_stream(url_of(second), session, topics="jobs", last_id=int(seen[-1].id or 0))
        rest = await resumed.take(130)
        assert [e.seq for e in seen + rest] == list(range(1, 151))
        resumed.close()


def subscribed(url: str) -> bool:
    """Whether the gateway listens on the server at ``url`` (after a restart: reconnected)."""
    with redis.Redis.from_url(url) as client:
        return bool(dict(client.pubsub_numsub(keys.UPDATES_CHANNEL)).get(keys.UPDATES_CHANNEL.encode()))


async def _healed_from_the_stream(stream: Stream, registry: Registry, url: str, seen: list[SseEvent]) -> None:
    # When events are published at once, before the gateway's subscription is back
    for _ in range(40):
        await asyncio.to_thread(submit, registry, "noop")
    # Then the client gets every event, no gap, no duplicate, no reset
    rest = await stream.take(40, kinds=("job", "reset"), timeout=20)
    assert [e.seq for e in seen + rest] == list(range(1, 46))


async def _told_to_start_over(stream: Stream, registry: Registry, url: str, seen: list[SseEvent]) -> None:
    await asyncio.to_thread(wait_for, lambda: subscribed(url), 20, what="the gateway to resubscribe")
    await asyncio.to_thread(submit, registry, "noop")
    # The sequence restarted at 1: the client is told to start over, with a fresh snapshot
    reset = await stream.until(lambda e: e.event == "reset", timeout=20)
    snapshot = await stream.next()
    assert reset.event == "reset" and snapshot.event == "snapshot"
    # The job made after the restart is in the snapshot or follows it as seq 1
    if snapshot.json["data"]["counts"]["diagnostics"]["waiting"] == 0:
        job = await stream.until(lambda e: e.event == "job")
        assert job.seq == 1
    else:
        assert snapshot.id == "1"


@pytest.mark.parametrize(
    ("persist", "then"),
    [(True, _healed_from_the_stream), (False, _told_to_start_over)],
    ids=["with-persistence-is-healed-from-the-stream", "that-lost-its-data-resets-clients"],
)
async def test_redis_restart(
    persist: bool,
    then: Callable[[Stream, Registry, str, list[SseEvent]], Awaitable[None]],
    aiohttp_client: Callable[..., Any],
    settings: Settings,
    tmp_path: Path,
) -> None:
    # Given a gateway and a client that has seen five events, on a Redis with or without its AOF
    data, port = tmp_path / "r", localredis.free_port()
    proc, url = localredis.start(data, port=port, persist=persist)
    own = dataclasses.replace(settings, redis_url=url)
    registry = Registry(own)
    gateway: TestClient[Any, Any] = await aiohttp_client(build_app(own))
    try:
        stream, seen = await stream_past_five_jobs(gateway, registry)
        # When Redis restarts
        await asyncio.to_thread(stop, proc, 10)
        proc, _ = await asyncio.to_thread(localredis.start, data, port=port, persist=persist)
        await then(stream, registry, url, seen)
        stream.close()
    finally:
        registry.close()
        stop(proc, timeout=10)


#: Events and events per second of the stalled-client scenario: enough to fill the stalled
#: client's socket buffers and queue, at a rate 50 readers in one test process can follow.
TOTAL, RATE = 2000, 250


async def test_stalled_client_is_dropped_while_healthy_ones_keep_low_lag(
    registry: Registry, start_gateway: Callable[..., ServiceProcess]
) -> None:
    gateway = start_gateway(
        stream_client_buffer=500, stream_client_max_bytes=65_536, stream_socket_sndbuf=16_384
    )
    port = gateway.settings.stream_port
    # Given a client that connects and then never reads
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", port))
    stalled.sendall(
        b"GET /stream?topics=jobs HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: Bearer test-viewer-token-with-thirty-two-chars\r\n\r\n"
    )
    lags: list[float] = []
    async with aiohttp.ClientSession() as session:
        healthy = [await open_stream(url_of(gateway), session, topics="jobs") for _ in range(50)]
        for stream in healthy:
            await stream.next()

        async def consume(stream: Any) -> int:
            # Raw chunks, not parsed events: 50 readers share this one test process.
            count, tail = 0, b""
            async with asyncio.timeout(60):
                while count < TOTAL:
                    chunk = tail + await stream.response.content.readany()
                    if not chunk:
                        break
                    frames = chunk.split(b"\r\n\r\n")
                    tail = frames.pop()
                    jobs = [f for f in frames if b"event: job" in f]
                    count += len(jobs)
                    if jobs:
                        ts = float(jobs[-1].split(b'"ts":', 1)[1].split(b",", 1)[0])
                        lags.append(time.time() - ts)
            return count

        readers = [asyncio.create_task(consume(s)) for s in healthy]

        # When events are published steadily
        def publish() -> None:
            start = time.monotonic()
            for i in range(TOTAL):
                submit(registry, "noop")
                ahead = i / RATE - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)

        await asyncio.to_thread(publish)
        counts = await asyncio.gather(*readers)
        # Then every healthy client got them all, quickly, and the stalled one was cut off
        assert counts == [TOTAL] * 50
        lags.sort()
        print(
            f"p99 publish-to-read lag seen by the test's readers: {lags[int(len(lags) * 0.99)] * 1000:.1f} ms"
        )
        async with session.get(f"{url_of(gateway)}/metrics") as response:
            body = await response.text()
        # and the gateway's own publish-to-write lag: p99 within 100 ms.
        buckets = {
            float(line.split('le="')[1].split('"')[0]): float(line.rsplit(" ", 1)[1])
            for line in body.splitlines()
            if line.startswith("facequeue_stream_delivery_lag_seconds_bucket")
        }
        total = buckets[float("inf")]
        assert buckets[0.1] / total >= 0.99

        async def metrics() -> str:
            async with session.get(f"{url_of(gateway)}/metrics") as response:
                return await response.text()

        async with asyncio.timeout(15):
            while "facequeue_stream_slow_client_drops_total 1.0" not in (body := await metrics()):
                await asyncio.sleep(0.2)
        assert 'facequeue_stream_disconnects_total{reason="slow"} 1.0' in body
        assert 'facequeue_stream_clients_connected{transport="sse"} 50.0' in body
        for stream in healthy:
            stream.close()
    stalled.close()


async def test_sigterm_drains_clients_gradually_with_readiness_503(
    start_gateway: Callable[..., ServiceProcess],
) -> None:
    gateway = start_gateway(stream_drain_s=1.5)
    async with aiohttp.ClientSession() as session:
        streams = [await open_stream(url_of(gateway), session) for _ in range(3)]
        for stream in streams:
            await stream.next()
        gateway.process.send_signal(signal.SIGTERM)
        # Readiness turns 503 at once while clients are still being served
        async with asyncio.timeout(5):
            while True:
                async with session.get(f"{url_of(gateway)}/readyz") as response:
                    if response.status == 503:
                        break
                await asyncio.sleep(0.05)
        refused = await session.get(
            f"{url_of(gateway)}/stream",
            headers={"Authorization": "Bearer test-admin-token-with-thirty-two-chars"},
        )
        assert refused.status == 503
        # and the clients are closed one after another over the drain window
        ended: list[float] = []
        start = time.monotonic()

        async def until_closed(stream: Any) -> None:
            try:
                while True:
                    await stream.next(timeout=10)
            except (StopAsyncIteration, aiohttp.ClientError):
                pass
            ended.append(time.monotonic() - start)

        await asyncio.gather(*(until_closed(s) for s in streams))
        assert max(ended) - min(ended) > 0.5, ended
        assert max(ended) < 5
    wait_for(lambda: gateway.process.poll() is not None, timeout=15, what="gateway exit")
    assert gateway.process.returncode == 0, gateway.log()
