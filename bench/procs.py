"""Process plumbing the benchmarks share: start a service, read its CPU and memory, stop it."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from shared.config import Settings

#: Bearer token every benchmark configures on the services it starts (api and stream refuse
#: tokens under 32 characters).
TOKEN = "bench-token-of-at-least-thirty-two-chars"
#: Session secret of those services (required with a token: at least 32 bytes).
SECRET = "bench-session-secret-of-thirty-two-bytes-or-more"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
_TICK = os.sysconf("SC_CLK_TCK")


def raise_nofile(wanted: int = 65_536) -> int:
    """Lift this process's open-file limit (children inherit it); returns the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))  # root only
            return wanted
        except (ValueError, OSError):
            wanted = hard
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return max(soft, wanted)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (a supervisor's workers, and theirs)."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            found += [child, *descendants(child)]
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and its live descendants (children still running are not in its
    own ``cutime``)."""
    total = 0.0
    for one in (pid, *descendants(pid)):
        try:
            total += cpu_seconds(one)
        except OSError:
            continue
    return total


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError as exc:
            if getattr(exc, "code", None):  # an HTTP error still means it is up
                return
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def service(module: str, settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    """``python -m services.<x>`` with these settings, its output in ``log``."""
    env = {**os.environ, **settings.to_env()}
    with log.open("wb") as out:  # the child has its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", module], env=env, stdout=out, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            pipe.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")
