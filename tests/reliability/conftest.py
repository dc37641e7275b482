"""Reliability fixtures: a Redis that persists every write and can be killed and restarted."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import json
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from devstack import localredis
from devstack.localredis import free_port
from shared.config import Settings
from shared.events import EventType
from tests.conftest import RedisServer
from tests.processes import ServiceProcess, launch, stop
from tests.stream_client import read_events

#: appendfsync always: a kill -9 loses no acknowledged write, so the registry must match reality.
PERSIST_ARGS = ("--appendfsync", "always")


@dataclasses.dataclass
class RestartableRedis(RedisServer):
    data_dir: Path
    port: int

    def kill(self) -> None:
        stop(self.process, timeout=10, sig=signal.SIGKILL)

    def start(self) -> None:
        self.process, _ = localredis.start(
            self.data_dir, port=self.port, persist=True, extra_args=PERSIST_ARGS
        )


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestartableRedis]:
    """Overrides the suite's Redis for this folder: persistent, restartable on the same port."""
    data_dir = tmp_path_factory.mktemp("redis-aof")
    port = free_port()
    proc, url = localredis.start(data_dir, port=port, persist=True, extra_args=PERSIST_ARGS)
    server = RestartableRedis(proc, url, data_dir, port)
    yield server
    stop(server.process, timeout=10)


@pytest.fixture
def start_service(settings: Settings, tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """Factory of api/stream processes on free ports; always stopped."""
    started: list[ServiceProcess] = []

    def start(service: str, **overrides: Any) -> ServiceProcess:
        fields = {f"{service}_port": free_port(), **overrides}
        own = dataclasses.replace(settings, **fields)
        port = fields[f"{service}_port"]
        started.append(launch(service, own, port, tmp_path / f"{service}-{len(started)}.log"))
        return started[-1]

    yield start
    for service in started:
        service.stop()


#: The sequenced events' types (their SSE id is their seq; gateway frames have none of their own).
JOB_EVENT_TYPES = frozenset(EventType)


class ResumingClient:
    """A dashboard's stream connection: reconnects after any failure, resuming by Last-Event-ID."""

    def __init__(self, url: str, token: str = "test-viewer-token-with-thirty-two-chars") -> None:
        self.url, self.token = url, token
        self.seqs: list[int] = []
        self.last_id: str | None = None
        self.connects = 0
        self.resets = 0
        self.snapshots = 0
        self._task: asyncio.Task[None] | None = None

    def start(self, session: aiohttp.ClientSession) -> None:
        self._task = asyncio.create_task(self._run(session))

    async def _run(self, session: aiohttp.ClientSession) -> None:
        while True:
            headers = {"Authorization": f"Bearer {self.token}"}
            if self.last_id is not None:
                headers["Last-Event-ID"] = self.last_id
            try:
                async with session.get(
                    self.url, headers=headers, timeout=aiohttp.ClientTimeout(sock_read=30)
                ) as r:
                    if r.status != 200:
                        await asyncio.sleep(0.2)
                        continue
                    self.connects += 1
                    async for event in read_events(r):
                        if event.id:
                            self.last_id = event.id
                        if event.event == "reset":
                            self.resets += 1
                        if event.event == "snapshot":
                            self.snapshots += 1
                        if event.event in JOB_EVENT_TYPES and event.id is not None:
                            self.seqs.append(int(event.id))  # a job event's id is its seq
            except (TimeoutError, aiohttp.ClientError, ConnectionError):
                pass
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def eventually(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    """Async polling (the event loop keeps serving the stream clients meanwhile)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        await asyncio.sleep(0.05)


def http_status(url: str) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def record_figure(scenario: str, **figures: float | int) -> None:
    """Keep what a scenario measured in tests/artifacts/reliability.json (for the closing note)."""
    path = Path(__file__).resolve().parent.parent / "artifacts" / "reliability.json"
    path.parent.mkdir(exist_ok=True)
    # Suites run in parallel (pytest-xdist): one writer at a time.
    with path.with_suffix(".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(path.read_text()) if path.exists() else {}
        data[scenario] = figures
        path.write_text(json.dumps(data, indent=2, sort_keys=True))
