"""``facequeue up`` (behind ``make run``): the whole stack on one machine, logs prefixed.

Starts a private ``redis-server`` (own port, own data dir under ``.run/``)
unless ``FQ_REDIS_URL`` is set, then api, stream, monitor and worker groups as
subprocesses. Ctrl-C or SIGTERM stops them all, workers first so they can
finish their jobs.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from devstack import localredis
from devstack.demo import seed
from shared import redis_clients
from shared.auth import check_credentials
from shared.config import ENV_PREFIX, Settings, SettingsError
from shared.sessions import login_link

#: Port tried first for the local redis-server (the developer's 6379 is left alone).
LOCAL_REDIS_PORT = 6390
#: Seconds each child gets to exit after SIGTERM before it is killed.
STOP_GRACE_S = 20.0


def _pump(name: str, stream: IO[bytes]) -> None:
    prefix = f"[{name}] ".encode()
    for line in iter(stream.readline, b""):
        sys.stdout.buffer.write(prefix + line)
        sys.stdout.buffer.flush()


class Stack:
    """The children of one ``facequeue up``."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def spawn(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert proc.stdout is not None
        threading.Thread(target=_pump, args=(name, proc.stdout), daemon=True).start()
        self.children.append((name, proc))
        return proc

    def start_redis(self) -> str:
        """A persistent local redis-server under ``.run/redis``, logging like the other children."""
        proc, url = localredis.start(
            self.run_dir / "redis",
            port=localredis.free_port(LOCAL_REDIS_PORT),
            persist=True,
            output=subprocess.PIPE,
        )
        assert proc.stdout is not None
        threading.Thread(target=_pump, args=("redis", proc.stdout), daemon=True).start()
        self.children.append(("redis", proc))
        # Where `make example` finds the stack's Redis.
        (self.run_dir / "redis_url").write_text(url + "\n")
        return url

    def stop(self) -> None:
        """Workers first (they drain), then the services, Redis last."""
        for rank in (0, 1, 2):
            batch = [proc for name, proc in self.children if _stop_rank(name) == rank]
            for proc in batch:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in batch:
                try:
                    proc.wait(timeout=STOP_GRACE_S)
                except subprocess.TimeoutExpired:
                    proc.kill()


def _stop_rank(name: str) -> int:
    return 0 if name.startswith("worker") else 2 if name == "redis" else 1


def with_credentials(settings: Settings) -> Settings:
    """Never run open or forgeable by accident: a fresh admin token and session secret for this
    run where none is set; credentials that are set but unsafe stop the run (SettingsError)."""
    if not (settings.admin_token or settings.viewer_token):
        settings = dataclasses.replace(settings, admin_token=secrets.token_urlsafe(32))
    if not settings.secret:
        settings = dataclasses.replace(settings, secret=secrets.token_urlsafe(48))
    check_credentials(settings)
    return settings


def main(settings: Settings, *, workers: int = 1, demo: Path | None = None) -> int:
    """Run until interrupted; returns the exit code. ``demo``: seed the demo, photos cached there."""
    stack = Stack(Path.cwd() / ".run")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        if ENV_PREFIX + "REDIS_URL" not in os.environ and not settings.redis_sentinels:
            settings = dataclasses.replace(settings, redis_url=stack.start_redis())
        settings = with_credentials(settings)
        host = "127.0.0.1" if settings.bind_host in ("0.0.0.0", "") else settings.bind_host
        if not settings.dashboard_origin:
            # The page (API port) opens its EventSource on the gateway (another port): a
            # cross-origin request the gateway allows only for this origin.
            settings = dataclasses.replace(settings, dashboard_origin=f"http://{host}:{settings.api_port}")
        env = {**os.environ, **settings.to_env()}
        python = sys.executable
        for name in ("api", "stream", "monitor"):
            stack.spawn(name, [python, "-m", f"services.{name}"], env)
        for i in range(workers):
            group = dataclasses.replace(settings, worker_metrics_port=settings.worker_metrics_port + i)
            stack.spawn(f"worker{i}", [python, "-m", "services.worker"], {**env, **group.to_env()})
        print(
            f"\nfacequeue is up (Redis {redis_clients.describe(settings)})\n"
            f"  dashboard  http://{host}:{settings.api_port}/\n"
            f"  API        http://{host}:{settings.api_port}/api/v1\n"
            f"  stream     http://{host}:{settings.stream_port}/stream\n"
            f"  log in     {login_link(settings, f'http://{host}:{settings.api_port}')}\n"
            f"             (one-time, {settings.login_code_ttl_s} s; `facequeue login-link` makes more)\n"
            f"  API token  {settings.admin_token} (Authorization: Bearer …)\n"
            "Ctrl-C stops everything.\n",
            flush=True,
        )
        if demo is not None and settings.admin_token:
            base_url = f"http://{host}:{settings.api_port}"
            args = (base_url, settings.admin_token, demo)
            threading.Thread(target=seed, args=args, name="demo", daemon=True).start()
        while not stop.is_set():
            for name, proc in stack.children:
                if proc.poll() is not None:
                    print(f"[{name}] exited with {proc.returncode}; stopping the stack", flush=True)
                    stop.set()
            stop.wait(0.5)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
    return 0
