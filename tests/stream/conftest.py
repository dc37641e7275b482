"""Gateway fixtures: in-process over real loopback HTTP, or as a real subprocess."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from devstack.localredis import free_port
from services.stream.main import build_app
from shared.config import Settings
from shared.registry import Registry
from shared.submit import submit
from tests.processes import ServiceProcess, launch
from tests.stream_client import SseEvent, read_events

AUTH = {"Authorization": "Bearer test-viewer-token-with-thirty-two-chars"}


class Stream:
    """One open SSE connection and its parsed events."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self._events = read_events(response)

    async def next(self, timeout: float = 5.0) -> SseEvent:
        return await asyncio.wait_for(anext(self._events), timeout)

    async def until(self, predicate: Callable[[SseEvent], bool], timeout: float = 10.0) -> SseEvent:
        async with asyncio.timeout(timeout):
            while True:
                event = await anext(self._events)
                if predicate(event):
                    return event

    async def take(
        self, count: int, kinds: tuple[str, ...] = ("job",), timeout: float = 15.0
    ) -> list[SseEvent]:
        out: list[SseEvent] = []
        async with asyncio.timeout(timeout):
            while len(out) < count:
                event = await anext(self._events)
                if event.event in kinds:
                    out.append(event)
        return out

    def close(self) -> None:
        self.response.close()


async def open_stream(
    base: str | TestClient[Any, Any],
    session: aiohttp.ClientSession | None = None,
    *,
    headers: dict[str, str] | None = None,
    last_id: int | None = None,
    **params: str,
) -> Stream:
    all_headers = {**AUTH, **(headers or {})}
    if last_id is not None:
        all_headers["Last-Event-ID"] = str(last_id)
    if isinstance(base, TestClient):
        response = await base.get("/stream", params=params, headers=all_headers)
    else:
        assert session is not None
        response = await session.get(f"{base}/stream", params=params, headers=all_headers)
    assert response.status == 200, await response.text()
    return Stream(response)


async def stream_past_five_jobs(
    gateway: TestClient[Any, Any], registry: Registry
) -> tuple[Stream, list[SseEvent]]:
    """A jobs stream past its snapshot, and the events of five jobs then submitted."""
    stream = await open_stream(gateway, topics="jobs")
    await stream.next()
    for _ in range(5):
        submit(registry, "noop")
    return stream, await stream.take(5)


@pytest.fixture
async def gateway(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> AsyncIterator[TestClient[Any, Any]]:
    client: TestClient[Any, Any] = await aiohttp_client(build_app(settings))
    yield client


@pytest.fixture
def start_gateway(settings: Settings, tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """Gateway subprocesses; always stopped."""
    started: list[ServiceProcess] = []

    def start(**overrides: Any) -> ServiceProcess:
        own = dataclasses.replace(settings, stream_port=free_port(), **overrides)
        started.append(launch("stream", own, own.stream_port, tmp_path / f"stream-{len(started)}.log"))
        return started[-1]

    yield start
    for service in started:
        service.stop()


def url_of(service: ServiceProcess) -> str:
    return f"http://127.0.0.1:{service.settings.stream_port}"
