"""Every subprocess the suite starts, one way: spawn with its output in a log file, wait until it
is ready (or fail with that log if it died first), stop it with SIGTERM then SIGKILL.

Services, worker groups, the drop-in app's Dramatiq workers, Prometheus and Redis Sentinels all
go through here, so a change to how the suite stops processes or reports their logs is made once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from shared.config import Settings

ROOT = Path(__file__).resolve().parent.parent

#: How long a process gets to exit after SIGTERM before it is killed.
STOP_TIMEOUT_S = 20.0


def wait_for(
    predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.02, what: str = ""
) -> Any:
    """Poll until ``predicate()`` is truthy; the tests' replacement for fixed sleeps."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


def spawn(
    argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.Popen[bytes]:
    """Start ``argv`` with stdout and stderr going to ``log_path``."""
    with log_path.open("wb") as log_file:
        return subprocess.Popen(list(argv), cwd=cwd, env=env, stdout=log_file, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[Any], timeout: float = STOP_TIMEOUT_S, sig: int = signal.SIGTERM) -> None:
    """Ask the process to exit (``sig``); kill it if it has not within ``timeout`` seconds."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def children(pid: int) -> list[int]:
    """The pids of a process's direct children (a Dramatiq master's worker processes)."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def kill9(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def read_log(log_path: Path) -> str:
    return log_path.read_text(errors="replace")


def running(process: subprocess.Popen[Any], log_path: Path, what: str) -> bool:
    """True while it runs; an AssertionError with its log once it exited (for ``wait_for``)."""
    if process.poll() is not None:
        raise AssertionError(f"{what} exited early:\n{read_log(log_path)}")
    return True


@dataclasses.dataclass
class ServiceProcess:
    """A ``python -m services.<name>`` subprocess."""

    process: subprocess.Popen[bytes]
    settings: Settings
    log_path: Path

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        stop(self.process, timeout)

    def log(self) -> str:
        return read_log(self.log_path)


@dataclasses.dataclass
class WorkerGroup(ServiceProcess):
    """A ``python -m services.worker`` subprocess (a dramatiq master and its processes)."""

    def child_pids(self) -> list[int]:
        return children(self.process.pid)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        stop(self.process, timeout)
        for pid in self.child_pids():  # orphans of a master that had to be killed
            kill9(pid)


def python_module(module: str, settings: Settings, log_path: Path, *args: str) -> subprocess.Popen[bytes]:
    """``python -m <module> <args>`` configured by ``settings`` (FQ_* variables)."""
    return spawn([sys.executable, "-m", module, *args], log_path, env={**os.environ, **settings.to_env()})


def http_ready(port: int, path: str = "/readyz") -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def metric_sum(port: int, line_start: str) -> float:
    """The sum of the samples whose line starts with ``line_start`` in the process's ``/metrics``
    (every label set of a metric, or one); a metric it does not export fails the test."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start)]
    assert values, f"no {line_start} in the exposition"
    return sum(values)


def launch(service: str, settings: Settings, port: int, log_path: Path) -> ServiceProcess:
    """Start ``python -m services.<service>`` and wait until its /readyz answers 200."""
    launched = ServiceProcess(python_module(f"services.{service}", settings, log_path), settings, log_path)
    try:
        wait_for(
            lambda: running(launched.process, log_path, service) and http_ready(port),
            timeout=30,
            what=f"{service} readiness",
        )
    except AssertionError:
        launched.stop()
        raise
    return launched
