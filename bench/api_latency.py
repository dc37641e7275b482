"""API latency with a million jobs in the registry, against the same API over a thousand.

p50/p99 of ``GET /api/v1/stats`` and of job list pages (a state listing and the
newest-first search), measured over real HTTP on a real API process.
Run: ``python -m bench.api_latency [JOBS]``.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import redis

from shared import keys, localredis
from shared.config import Settings
from shared.registry import Registry
from shared.scripts import SOURCES, Lua
from shared.submit import submit_call

TOKEN = "bench-token"
REQUESTS = 200
PATHS = {
    "stats": "/api/v1/stats",
    "list waiting page": "/api/v1/jobs?queue=diagnostics&state=waiting&limit=50",
    "newest-first page": "/api/v1/jobs?limit=50",
}


def load(registry: Registry, jobs: int) -> None:
    """Submit through the real script, pipelined a thousand at a time."""
    script = registry.client.register_script(SOURCES[Lua.JOB_SUBMIT])
    head_keys = [keys.EVENTS_STREAM, keys.EVENTS_SEQ]
    head_args: list[str | int | float] = [
        keys.UPDATES_CHANNEL,
        registry.settings.events_maxlen,
        keys.JOB_PREFIX,
    ]
    for start in range(0, jobs, 1000):
        pipe = registry.client.pipeline(transaction=False)
        for i in range(start, min(jobs, start + 1000)):
            _, call = submit_call("noop", settings=registry.settings, priority=i % 10)
            script(keys=[*head_keys, *call.keys], args=[*head_args, *call.args], client=pipe)
        pipe.execute()


def measure(base: str) -> dict[str, tuple[float, float]]:
    out = {}
    for name, path in PATHS.items():
        times = []
        for _ in range(REQUESTS):
            request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {TOKEN}"})
            start = time.perf_counter()
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
            times.append(time.perf_counter() - start)
        times.sort()
        out[name] = (statistics.median(times) * 1000, times[int(len(times) * 0.99)] * 1000)
    return out


def run(url: str, jobs: int, tmp: Path) -> dict[str, tuple[float, float]]:
    import os
    import subprocess

    redis.Redis.from_url(url).flushall()
    settings = Settings(
        redis_url=url, api_port=localredis.free_port(), admin_token=TOKEN, log_level="warning"
    )
    registry = Registry(settings)
    load(registry, jobs)
    registry.close()
    env = {**os.environ, **dataclasses.replace(settings).to_env()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.api"],
        env=env,
        stdout=(tmp / "api.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{settings.api_port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/readyz", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        measure(base)  # warm up
        return measure(base)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main(jobs: int = 1_000_000) -> None:
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        proc, url = localredis.start(tmp / "redis")
        try:
            small = run(url, 1_000, tmp)
            large = run(url, jobs, tmp)
        finally:
            proc.terminate()
            proc.wait()
    print(f"API latency over real HTTP, {REQUESTS} requests each, {jobs} jobs vs 1,000 jobs:")
    for name in PATHS:
        (s50, s99), (l50, l99) = small[name], large[name]
        print(
            f"  {name:<18} p50 {l50:6.2f} ms  p99 {l99:6.2f} ms   (1,000 jobs: p50 {s50:6.2f} ms, "
            f"p99 {s99:6.2f} ms; ratio p99 {l99 / s99:.2f})"
        )


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
