"""Fixtures that start real parts: a private redis-server per run and Dramatiq worker groups.

Never touches the shared Redis on 6379: every test talks to its own server on a
free loopback port, flushed before each test.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import redis

from devstack import localredis, sample_photos
from devstack.localredis import free_port
from shared.config import Settings
from shared.registry import Registry
from tests import typed_redis
from tests.processes import ROOT, ServiceProcess, WorkerGroup, launch, python_module, running, stop, wait_for

# Test modules import the process plumbing from tests.processes; these stay importable from here.
__all__ = ["ROOT", "ServiceProcess", "WorkerGroup", "free_port", "launch", "wait_for"]


@dataclasses.dataclass
class RedisServer:
    process: subprocess.Popen[bytes]
    url: str


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    try:
        proc, url = localredis.start(tmp_path_factory.mktemp("redis"))
    except RuntimeError as exc:
        pytest.exit(str(exc), returncode=2)
    server = RedisServer(proc, url)
    yield server
    stop(server.process, timeout=10)


@pytest.fixture(scope="session")
def dropin_module(redis_server: RedisServer) -> ModuleType:
    """tests/facequeue/app.py, the drop-in tests' Dramatiq app, imported once per run (it reads
    FQ_REDIS_URL at import)."""
    previous = os.environ.get("FQ_REDIS_URL")
    os.environ["FQ_REDIS_URL"] = redis_server.url
    try:
        module = importlib.import_module("tests.facequeue.app")
    finally:  # the rest of the suite keeps the environment it had
        if previous is None:
            os.environ.pop("FQ_REDIS_URL", None)
        else:
            os.environ["FQ_REDIS_URL"] = previous
    return module


@pytest.fixture(scope="session")
def photos() -> dict[str, bytes]:
    """Real photos by file name (see shared/sample_photos.py)."""
    return sample_photos.load_all(ROOT / ".cache" / "sample-photos")


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
def settings(redis_url: str) -> Settings:
    """Settings for tests: fast heartbeats so recovery scenarios take seconds."""
    return Settings(
        redis_url=redis_url,
        worker_metrics_port=free_port(),
        worker_processes=1,
        worker_threads=1,
        worker_queues=("diagnostics",),  # face tests ask for face_search (and pay for the models)
        heartbeat_interval_s=0.5,
        worker_dead_s=2.0,
        worker_idle_poll_ms=50,
        monitor_interval_s=0.5,
        admin_token="test-admin-token-with-thirty-two-chars",
        viewer_token="test-viewer-token-with-thirty-two-chars",
        secret="a-secret-of-the-test-suite-only-0123456789",
        retry_min_backoff_ms=100,
        retry_max_backoff_ms=1000,
        log_format="json",
        stream_processes=1,  # one gateway process; tests/stream/test_group.py runs several
    )


@pytest.fixture
def registry(settings: Settings) -> Iterator[Registry]:
    reg = Registry(settings)
    yield reg
    reg.close()


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def start_worker(
    settings: Settings, tmp_path: Path, raw: redis.Redis
) -> Iterator[Callable[..., WorkerGroup]]:
    """Factory of worker groups; waits until each process registered, always stops them."""
    groups: list[WorkerGroup] = []

    def start(**overrides: Any) -> WorkerGroup:
        group_settings = dataclasses.replace(settings, worker_metrics_port=free_port(), **overrides)
        log_path = tmp_path / f"worker-{len(groups)}.log"
        before = set(raw.zrange("fq:workers", 0, -1))
        proc = python_module("services.worker", group_settings, log_path)
        group = WorkerGroup(proc, group_settings, log_path)
        groups.append(group)

        def registered() -> bool:
            running(proc, log_path, "worker")
            return len(set(raw.zrange("fq:workers", 0, -1)) - before) >= group_settings.worker_processes

        wait_for(registered, timeout=30, what="worker registration")
        return group

    yield start
    for group in groups:
        group.stop()


class EventTap:
    """Collects every event published on ``queue:updates`` from the moment it is created."""

    def __init__(self, url: str) -> None:
        import threading

        from shared.events import Event

        self.events: list[Event] = []
        self._client = redis.Redis.from_url(url, decode_responses=True)
        self._pubsub = typed_redis.pubsub(self._client)
        self._pubsub.subscribe("queue:updates")
        wait_for(lambda: self._pubsub.get_message(timeout=0.1), what="subscription")
        self._stop = threading.Event()

        def pump() -> None:
            while not self._stop.is_set():
                message = self._pubsub.get_message(timeout=0.2)
                if message and message["type"] == "message":
                    self.events.append(Event.from_message(message["data"]))

        self._thread = threading.Thread(target=pump, daemon=True)
        self._thread.start()

    def of_type(self, kind: str) -> list[Any]:
        return [e for e in list(self.events) if e.type == kind]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._pubsub.close()
        self._client.close()


@pytest.fixture
def tap(redis_url: str) -> Iterator[EventTap]:
    t = EventTap(redis_url)
    yield t
    t.close()


@pytest.fixture
def start_monitor(settings: Settings, tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """Factory of monitor replicas; always stops them."""
    started: list[ServiceProcess] = []

    def start(**overrides: Any) -> ServiceProcess:
        own = dataclasses.replace(settings, monitor_port=free_port(), **overrides)
        started.append(launch("monitor", own, own.monitor_port, tmp_path / f"monitor-{len(started)}.log"))
        return started[-1]

    yield start
    for service in started:
        service.stop()
