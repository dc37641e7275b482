"""A worker whose Redis connections go half-open (a NAT or firewall drops them silently) neither
loses its running job nor lets it run twice: every client has a socket timeout, so the heartbeat
and the outcome fail over to fresh connections before the worker counts as dead (issue 18)."""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from devstack.localredis import free_port
from shared.registry import Registry
from shared.states import JobState
from shared.submit import submit
from tests.conftest import RedisServer
from tests.helpers import transitions_of
from tests.processes import wait_for


class FreezingProxy:
    """A loopback TCP proxy to Redis whose open connections can be frozen: their bytes stop
    flowing both ways while both sockets stay open; connections made after the freeze flow."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._frozen_below = 0
        self._opened = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def freeze(self) -> int:
        """Freeze every connection open now; returns how many."""
        with self._lock:
            self._frozen_below = self._opened
            return self._opened

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        with self._lock:
            for s in self._sockets:
                s.close()

    def _accept(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                continue
            upstream = socket.create_connection(self.target)
            with self._lock:
                number = self._opened
                self._opened += 1
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, number), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket, number: int) -> None:
        peers = {a: b, b: a}
        while not self._stop.is_set():
            if number < self._frozen_below:  # frozen: read nothing, close nothing
                self._stop.wait(0.1)
                continue
            try:
                ready, _, _ = select.select(list(peers), [], [], 0.1)
                for src in ready:
                    data = src.recv(65536)
                    if not data:
                        return
                    peers[src].sendall(data)
            except OSError:
                return


@pytest.fixture
def proxy(redis_server: RedisServer) -> Iterator[FreezingProxy]:
    address = redis.Redis.from_url(redis_server.url).connection_pool.connection_kwargs
    p = FreezingProxy((address["host"], address["port"]))
    yield p
    p.close()


def test_a_worker_whose_connections_go_half_open_runs_its_job_once(
    registry: Registry,
    raw: redis.Redis,
    proxy: FreezingProxy,
    start_worker: Callable[..., Any],
    start_monitor: Callable[..., Any],
) -> None:
    # Given a monitor reaping workers silent for 3 s, and a worker reaching Redis through a
    # proxy, its clients timing out after 1 s
    start_monitor(worker_dead_s=3.0)
    start_worker(redis_url=proxy.url, worker_dead_s=3.0, redis_socket_timeout_s=1.0)
    (worker_id,) = raw.zrange("fq:workers", 0, -1)
    job = submit(registry, "sleep", {"seconds": 3.0})
    wait_for(lambda: registry.get(job).state is JobState.ACTIVE, what="the job to start")
    # When every connection the worker has open goes half-open mid-job
    assert proxy.freeze() > 0
    # Then the worker beats on through fresh connections, is never reaped, and the job
    # completes on it, exactly once
    wait_for(lambda: registry.get(job).state is JobState.COMPLETED, timeout=30, what="completion")
    assert transitions_of(raw, job) == [(None, "waiting"), ("waiting", "active"), ("active", "completed")]
    done = registry.get(job)
    assert done.attempts == 1 and done.worker == worker_id
    assert raw.zscore("fq:workers", worker_id) is not None
    assert raw.zscore("fq:workers:dead", worker_id) is None
