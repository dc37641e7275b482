"""A private ``redis-server`` on loopback, for ``facequeue up``, the test suite and benchmarks.

Never the developer's 6379: each caller gets its own port and data directory.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import redis

#: Memory budget of the servers started here (tests, benchmarks, ``make run``): generous for a
#: million-job benchmark, and with noeviction Redis refuses writes rather than drop a job.
DEFAULT_MAXMEMORY = "4gb"
#: Seconds a new server gets to answer PING.
START_TIMEOUT_S = 10.0


def free_port(preferred: int = 0) -> int:
    """``preferred`` when it is free, else any free loopback port."""
    for port in (preferred, 0) if preferred else (0,):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise RuntimeError("no free port")


def start(
    data_dir: Path,
    *,
    port: int = 0,
    persist: bool = False,
    output: int | IO[bytes] | None = subprocess.DEVNULL,
    extra_args: tuple[str, ...] = (),
    maxmemory: str = DEFAULT_MAXMEMORY,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start a server and wait until it answers; returns the process and its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(
            "redis-server is not installed (apt-get install redis-server), or set FQ_REDIS_URL"
        )
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    persistence = ["--appendonly", "yes"] if persist else ["--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data_dir),
            *persistence,
            # jemalloc's purging thread competes with Redis's one thread for a small machine's
            # cores: cleaning a million jobs saw scripts stall 10-22 ms off-CPU with it, at most
            # 7 ms without (issue 9; bench/api_latency.py).
            "--jemalloc-bg-thread",
            "no",
            "--maxmemory",
            maxmemory,
            "--maxmemory-policy",
            "noeviction",
            *extra_args,
        ],
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while True:
            try:
                client.ping()
                return proc, url
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    raise RuntimeError(f"redis-server on port {port} did not start") from None
                time.sleep(0.02)
    finally:
        client.close()


@contextlib.contextmanager
def running(data_dir: Path, **options: Any) -> Iterator[str]:
    """A private server for the length of a ``with`` block (a benchmark's); yields its URL.
    ``options`` are :func:`start`'s."""
    proc, url = start(data_dir, **options)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait()
