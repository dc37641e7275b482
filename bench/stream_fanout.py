"""Streaming gateway benchmarks: idle capacity, fan-out cost and lag, against a naive baseline.

- Idle: N idle SSE clients on one facequeue gateway process; its memory per connection.
- Load: 1,000 clients, 500 events/s for 10 s, on facequeue's gateway and on the naive
  one (one Redis subscription per client, aiohttp-sse formatting per client), measured
  in the same run: publish-to-client lag p50/p99 and frames written per CPU-second.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from shared import localredis
from shared.config import Settings
from shared.registry import Registry
from shared.submit import submit

TOKEN = "bench-token"
_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


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


def start_gateway(kind: str, url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    if kind == "facequeue":
        settings = Settings(
            redis_url=url, stream_port=port, admin_token=TOKEN, log_level="warning", stream_drain_s=1.0
        )
        cmd = [sys.executable, "-m", "services.stream"]
        env = {**os.environ, **settings.to_env()}
    else:
        cmd = [sys.executable, "-m", "bench.naive_gateway", url, str(port)]
        env = dict(os.environ)
    proc = subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    wait_http(f"http://127.0.0.1:{port}/stream")
    return proc


def start_load(port: int, clients: int, events: int, seconds: float, kind: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.stream_load",
            f"http://127.0.0.1:{port}",
            str(clients),
            str(events),
            str(seconds),
            "snapshot" if kind == "facequeue" else "-",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != "ready":
        raise SystemExit(f"load client failed: {line!r}")
    return proc


def publish(registry: Registry, events: int, rate: float) -> float:
    start = time.monotonic()
    for i in range(events):
        submit(registry, "noop")
        ahead = i / rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
    return time.monotonic() - start


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def idle(url: str, tmp: Path, clients: int) -> dict[str, Any]:
    port = localredis.free_port()
    gateway = start_gateway("facequeue", url, port, tmp / "idle.log")
    try:
        time.sleep(0.5)
        before = rss_bytes(gateway.pid)
        load = start_load(port, clients, 0, 0, "facequeue")
        time.sleep(1.0)
        after = rss_bytes(gateway.pid)
        t0 = time.perf_counter()
        wait_http(f"http://127.0.0.1:{port}/readyz")
        ready_ms = (time.perf_counter() - t0) * 1000
        assert load.stdin is not None
        load.stdin.write("\n")
        load.stdin.flush()
        load.communicate(timeout=60)
        return {
            "clients": clients,
            "rss_mb": after / 2**20,
            "per_conn_kb": (after - before) / clients / 1024,
            "readyz_ms": ready_ms,
        }
    finally:
        stop(gateway)


def load(kind: str, url: str, tmp: Path, clients: int, rate: float, seconds: float) -> dict[str, Any]:
    port = localredis.free_port()
    gateway = start_gateway(kind, url, port, tmp / f"{kind}.log")
    registry = Registry(Settings(redis_url=url))
    events = int(rate * seconds)
    try:
        client = start_load(port, clients, events, seconds + 20, kind)
        cpu0 = cpu_seconds(gateway.pid)
        assert client.stdin is not None
        client.stdin.write("\n")
        client.stdin.flush()
        thread = threading.Thread(target=publish, args=(registry, events, rate))
        thread.start()
        out, _ = client.communicate(timeout=seconds + 120)
        thread.join()
        cpu = cpu_seconds(gateway.pid) - cpu0
        result = json.loads(out.strip().splitlines()[-1])
        frames = sum(result["counts"])
        return {
            "kind": kind,
            "frames": frames,
            "expected": events * clients,
            "cpu_s": cpu,
            "frames_per_cpu_s": frames / cpu if cpu else float("nan"),
            "p50_ms": percentile(result["lags"], 0.50) * 1000,
            "p99_ms": percentile(result["lags"], 0.99) * 1000,
        }
    finally:
        registry.close()
        stop(gateway)


def main(idle_clients: int = 5000, clients: int = 1000, rate: float = 500, seconds: float = 10) -> None:
    """The issue's load point (1,000 clients, 500 events/s) and one tenth of its rate."""
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        proc, url = localredis.start(tmp / "redis")
        try:
            capacity = idle(url, tmp, idle_clients)
            runs = {
                r: [load(kind, url, tmp, clients, r, seconds) for kind in ("facequeue", "naive")]
                for r in (rate, rate / 10)
            }
        finally:
            proc.terminate()
            proc.wait()
    print(
        f"stream gateway, idle: {capacity['clients']} SSE clients on one process, "
        f"RSS {capacity['rss_mb']:.0f} MiB, {capacity['per_conn_kb']:.1f} KiB per connection, "
        f"/readyz in {capacity['readyz_ms']:.1f} ms while holding them"
    )
    for r, results in runs.items():
        print(f"stream gateway, load: {clients} clients, {r:.0f} events/s for {seconds:.0f} s:")
        for x in results:
            print(
                f"  {x['kind']:<10} lag p50 {x['p50_ms']:7.1f} ms  p99 {x['p99_ms']:8.1f} ms   "
                f"{x['frames']}/{x['expected']} frames, {x['frames_per_cpu_s']:8.0f} frames per CPU-second"
            )
        fq, naive = results
        print(
            f"  ratio facequeue/naive: p99 lag {fq['p99_ms'] / naive['p99_ms']:.3f}, "
            f"frames per CPU-second {fq['frames_per_cpu_s'] / naive['frames_per_cpu_s']:.1f}"
        )


if __name__ == "__main__":
    main(*(float(a) if "." in a else int(a) for a in sys.argv[1:]))  # type: ignore[arg-type]
