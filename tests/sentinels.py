"""A Redis primary, one replica and three Sentinels on loopback, for the failover tests (issue 17).

Debian's ``redis-sentinel`` is ``redis-server`` in Sentinel mode; ``redis-server --sentinel``
is used when the package is not installed, so nothing beyond redis-server is required.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from devstack import localredis
from tests.processes import spawn, stop, wait_for

#: Name of the primary the Sentinels monitor (``FQ_REDIS_SENTINEL_SERVICE``).
SERVICE = "facequeue"
#: Milliseconds without an answer before a Sentinel thinks the primary is down: short, for tests.
DOWN_AFTER_MS = 1000
#: Milliseconds Sentinels give one failover before another may be tried.
FAILOVER_TIMEOUT_MS = 5000
#: Sentinels that must agree the primary is down.
QUORUM = 2


@dataclass
class SentinelGroup:
    """The five processes; ``kill_primary`` is the fault, ``wait_promoted`` its recovery."""

    root: Path
    primary: subprocess.Popen[bytes]
    primary_port: int
    replica: subprocess.Popen[bytes]
    replica_port: int
    sentinels: list[subprocess.Popen[bytes]] = field(default_factory=list)
    sentinel_ports: list[int] = field(default_factory=list)

    @property
    def addresses(self) -> tuple[str, ...]:
        """``FQ_REDIS_SENTINELS``."""
        return tuple(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def url_of(self, port: int) -> str:
        return f"redis://127.0.0.1:{port}/0"

    def master_port(self) -> int | None:
        """The primary's port as a majority of Sentinels name it now, or None."""
        seen: dict[int, int] = {}
        for port in self.sentinel_ports:
            with contextlib.suppress(redis.RedisError), redis.Redis(port=port, socket_timeout=1) as s:
                reply = s.execute_command("SENTINEL", "get-master-addr-by-name", SERVICE)
                if reply:
                    seen[int(reply[1])] = seen.get(int(reply[1]), 0) + 1
        best = max(seen.items(), key=lambda kv: kv[1], default=None)
        return best[0] if best and best[1] >= QUORUM else None

    def ready(self) -> bool:
        """Each Sentinel knows the other two and the replica in sync: a failover can happen."""
        for port in self.sentinel_ports:
            try:
                with redis.Redis(port=port, socket_timeout=1, decode_responses=True) as s:
                    peers = s.execute_command("SENTINEL", "sentinels", SERVICE)
                    replicas = s.execute_command("SENTINEL", "replicas", SERVICE)
            except redis.RedisError:
                return False
            if len(peers) < len(self.sentinel_ports) - 1 or not replicas:
                return False
            if not any(_fields(r).get("master-link-status") == "ok" for r in replicas):
                return False
        return True

    def kill_primary(self) -> None:
        """``kill -9`` the primary: unflushed replication is lost with it."""
        self.primary.send_signal(signal.SIGKILL)
        self.primary.wait(timeout=10)

    def restart_old_primary(self) -> None:
        """Bring the killed primary back as a replica of the promoted one.

        As a supervisor's start script does (the Bitnami chart's asks Sentinel for the primary
        first); left to itself Sentinel would turn it into a replica about 10 s later.
        """
        self.primary, _ = localredis.start(
            self.root / f"node-{self.primary_port}",
            port=self.primary_port,
            extra_args=("--replicaof", "127.0.0.1", str(self.replica_port)),
        )

    def swap_roles(self) -> None:
        """After a failover and the old primary's return: the replica is primary, and the other way round."""
        self.primary, self.replica = self.replica, self.primary
        self.primary_port, self.replica_port = self.replica_port, self.primary_port

    def replicas_of_primary(self) -> int:
        """Replicas done with their full sync of the current primary (``state=online``).

        A replica still loading its first copy counts as connected, and Sentinel may promote
        it: the next failover would then lose everything.
        """
        port = self.master_port()
        if port is None:
            return 0
        try:
            with redis.Redis(port=port, socket_timeout=1) as r:
                info = r.info("replication")
        except redis.RedisError:
            return 0
        return sum(
            1
            for key, value in info.items()
            if key.startswith("slave") and isinstance(value, dict) and value.get("state") == "online"
        )

    def wait_promoted(self, timeout: float = 30.0) -> float:
        """Seconds until a quorum of Sentinels names the replica as primary and it accepts writes."""
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            if self.master_port() == self.replica_port:
                with contextlib.suppress(redis.RedisError), redis.Redis(port=self.replica_port) as r:
                    if r.info("replication")["role"] == "master":
                        return time.monotonic() - began
            time.sleep(0.05)
        raise AssertionError(f"no promotion within {timeout}s")

    def stop(self) -> None:
        for proc in [*self.sentinels, self.replica, self.primary]:
            stop(proc, timeout=10)


def _fields(flat: object) -> dict[str, str]:
    """A Sentinel reply entry (a dict with RESP3, a flat list with RESP2) as a dict."""
    if isinstance(flat, dict):
        return {str(k): str(v) for k, v in flat.items()}
    items = list(flat)  # type: ignore[call-overload]
    return {str(items[i]): str(items[i + 1]) for i in range(0, len(items) - 1, 2)}


def sentinel_command(port: int, config: Path) -> list[str]:
    binary = shutil.which("redis-sentinel")
    if binary is not None:
        return [binary, str(config)]
    server = shutil.which("redis-server")
    if server is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server redis-sentinel)")
    return [server, str(config), "--sentinel"]


def start_group(root: Path, *, sentinels: int = 3, ready_timeout: float = 30.0) -> SentinelGroup:
    """Start primary, replica and Sentinels; returns once a failover could happen."""
    primary, primary_url = localredis.start(root / "primary")
    primary_port = int(primary_url.rsplit(":", 1)[1].split("/")[0])
    replica_port = localredis.free_port()
    replica, _ = localredis.start(
        root / "replica", port=replica_port, extra_args=("--replicaof", "127.0.0.1", str(primary_port))
    )
    group = SentinelGroup(root, primary, primary_port, replica, replica_port)
    try:
        for n in range(sentinels):
            port = localredis.free_port()
            folder = root / f"sentinel-{n}"
            folder.mkdir(parents=True, exist_ok=True)
            config = folder / "sentinel.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndaemonize no\ndir {folder}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {primary_port} {QUORUM}\n"
                f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n"
                f"sentinel parallel-syncs {SERVICE} 1\n"
            )
            group.sentinels.append(spawn(sentinel_command(port, config), folder / "sentinel.log"))
            group.sentinel_ports.append(port)
        wait_for(
            group.ready, ready_timeout, interval=0.1, what="Sentinels to discover each other and the replica"
        )
    except BaseException:
        group.stop()
        raise
    return group


@pytest.fixture(name="group")
def sentinel_group(tmp_path: Path) -> Iterator[SentinelGroup]:
    """A started group, stopped after the test: a module that imports this asks for ``group``."""
    g = start_group(tmp_path / "sentinels")
    yield g
    g.stop()
