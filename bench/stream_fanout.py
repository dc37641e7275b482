"""Streaming gateway benchmarks: fan-out cost and event lag, against baselines.

(Idle clients' memory is bench/idle_clients.py's, in the ``memory`` part.)

- Load: 1,000 clients, 500 events/s for ``seconds``: publish-to-client lag
  p50/p99/max and frames written per CPU-second of the server process, for
  facequeue's gateway over SSE and over WebSocket, the naive gateway (one Redis
  subscription per client, aiohttp-sse formatting per client) and the bare
  ``transport.write`` loop (bench/bare_fanout.py), all in the same run.

Clients run in several processes (bench/stream_load.py) on the same 2 cores as the
server: what the server gets is what is left after them and Redis.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.procs import (
    SECRET,
    TOKEN,
    cpu_seconds,
    percentile,
    raise_nofile,
    service,
    stop,
    tree_cpu_seconds,
    wait_http,
)
from bench.report import Results, row
from devstack import localredis
from services.stream.group import available_cores
from shared.config import Settings
from shared.registry import Registry
from shared.submit import submit

#: Client processes for the load runs (connections split evenly).
LOAD_CLIENT_PROCS = 2


#: The gateway's own publish-to-write lag histogram (facequeue_stream_delivery_lag_seconds).
LAG_METRIC = "facequeue_stream_delivery_lag_seconds_bucket"


def gateway_lag_buckets(port: int) -> dict[float, float]:
    """Cumulative counts per upper bound of the gateway's lag histogram, scraped now."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    buckets: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith(LAG_METRIC + "{"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[float(bound)] = buckets.get(float(bound), 0.0) + float(line.rsplit(" ", 1)[1])
    return buckets


def histogram_quantile(q: float, before: dict[float, float], after: dict[float, float]) -> float:
    """The q-quantile of what was observed between two scrapes, interpolated within its bucket
    as Prometheus' histogram_quantile does; seconds."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0.0
    if total <= 0:
        return float("nan")
    rank, lower, below = q * total, 0.0, 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if count >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (rank - below) / max(count - below, 1e-12)
        lower, below = bound, count
    return lower


def start_server(kind: str, url: str, port: int, log: Path, processes: int = 1) -> subprocess.Popen[bytes]:
    if kind in ("sse", "ws"):
        settings = Settings(
            redis_url=url,
            stream_port=port,
            admin_token=TOKEN,
            secret=SECRET,
            log_level="warning",
            stream_drain_s=1.0,
            stream_ping_s=120.0,  # the raw load client does not answer WebSocket pings
            stream_max_connections_per_address=0,  # every load client shares one loopback address
            stream_processes=processes,
        )
        proc = service("services.stream", settings, log)
    else:
        module = "bench.naive_gateway" if kind == "naive" else "bench.bare_fanout"
        args = [url, str(port)] if kind == "naive" else [str(port)]
        with log.open("wb") as out:  # the child has its own copy of the descriptor
            proc = subprocess.Popen(
                [sys.executable, "-m", module, *args],
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
    wait_http(f"http://127.0.0.1:{port}/stream")
    return proc


def start_clients(
    port: int, clients: int, events: int, seconds: float, mode: str, procs: int, *, sources: bool = False
) -> list[Any]:
    """Several client processes, each ready (connected, past its snapshot) on return.

    ``sources``: each process connects from its own loopback address (127.0.0.2, .3, ...):
    one address has ~28,000 ephemeral ports towards one server port.
    """
    shares = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    started = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.stream_load",
                f"http://127.0.0.1:{port}",
                str(share),
                str(events),
                str(seconds),
                mode,
                *([f"127.0.0.{2 + i}"] if sources else []),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i, share in enumerate(shares)
        if share
    ]
    for proc in started:
        assert proc.stdout is not None
        if (line := proc.stdout.readline().strip()) != "ready":
            raise SystemExit(f"load client failed: {line!r}")
    return started


def go(clients: list[Any]) -> None:
    for proc in clients:
        proc.stdin.write("\n")
        proc.stdin.flush()


def collect(clients: list[Any], cpu0: float = 0.0) -> tuple[list[int], list[float], float]:
    """Counts and lag samples of every client process, and their CPU seconds since ``cpu0``."""
    counts: list[int] = []
    lags: list[float] = []
    cpu = -cpu0
    for proc in clients:
        result = json.loads(proc.stdout.readline())
        counts += result["counts"]
        lags += result["lags"]
    for proc in clients:
        cpu += cpu_seconds(proc.pid)
        proc.stdin.close()
        proc.wait(timeout=30)
    return counts, lags, cpu


def publish(registry: Registry, events: int, rate: float) -> float:
    start = time.monotonic()
    for i in range(events):
        submit(registry, "noop")
        ahead = i / rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
    return time.monotonic() - start


def load(
    kind: str, url: str, tmp: Path, clients: int, rate: float, seconds: float, processes: int = 1
) -> dict[str, Any]:
    port = localredis.free_port()
    server = start_server(kind, url, port, tmp / f"{kind}-{processes}.log", processes)
    own = kind in ("sse", "ws")
    registry = Registry(Settings(redis_url=url))
    events = int(rate * seconds)
    mode = {"sse": "snapshot", "ws": "ws"}.get(kind, "-")
    try:
        followers = start_clients(port, clients, events, seconds + 10, mode, LOAD_CLIENT_PROCS)
        lag0 = gateway_lag_buckets(port) if own else {}
        cpu0, t0 = tree_cpu_seconds(server.pid), time.monotonic()
        clients_cpu0 = sum(cpu_seconds(p.pid) for p in followers)
        go(followers)
        if kind == "bare":
            assert server.stdin is not None
            server.stdin.write(f"{events} {rate}\n".encode())
            server.stdin.flush()
            counts, lags, clients_cpu = collect(followers, clients_cpu0)
        else:
            thread = threading.Thread(target=publish, args=(registry, events, rate))
            thread.start()
            counts, lags, clients_cpu = collect(followers, clients_cpu0)
            thread.join()
        cpu = tree_cpu_seconds(server.pid) - cpu0
        wall = time.monotonic() - t0
        frames = sum(counts)
        lag1 = gateway_lag_buckets(port) if own else {}
        return {
            "processes": processes,
            "gateway_p50_ms": histogram_quantile(0.50, lag0, lag1) * 1000 if own else float("nan"),
            "gateway_p99_ms": histogram_quantile(0.99, lag0, lag1) * 1000 if own else float("nan"),
            "rate": rate,
            "clients_cpu_share": clients_cpu / wall,
            "server_cpu_share": cpu / wall,
            "kind": kind,
            "frames": frames,
            "expected": events * clients,
            "cpu_s": cpu,
            "wall_s": wall,
            "frames_per_cpu_s": frames / cpu if cpu else float("nan"),
            "p50_ms": percentile(lags, 0.50) * 1000,
            "p99_ms": percentile(lags, 0.99) * 1000,
            "max_ms": max(lags, default=float("nan")) * 1000,
        }
    finally:
        registry.close()
        stop(server)


def main(clients: int = 1000, rate: float = 500, seconds: float = 10) -> Results:
    """The issue's point: 1,000 clients at 500 events/s."""
    raise_nofile(4 * clients + 1024)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        proc, url = localredis.start(tmp / "redis", extra_args=("--maxclients", str(2 * clients + 1000)))
        try:
            runs = {k: load(k, url, tmp, clients, rate, seconds) for k in ("sse", "ws", "naive", "bare")}
            # A tenth of the rate: the gateway's lag when the 2 cores are not saturated.
            runs["sse_tenth"] = load("sse", url, tmp, clients, rate / 10, seconds)
            # The gateway on every core (FQ_STREAM_PROCESSES), against one process.
            cores = available_cores()
            if cores > 1:
                runs["sse_cores"] = load("sse", url, tmp, clients, rate, seconds, processes=cores)
        finally:
            proc.terminate()
            proc.wait()
    print(f"stream load: {clients} clients for {seconds:.0f} s (CPU: cores used by server / by clients):")
    for x in runs.values():
        print(
            f"  {x['kind']:<6} x{x['processes']} {x['rate']:4.0f} ev/s  lag p50 {x['p50_ms']:7.1f} ms  "
            f"p99 {x['p99_ms']:8.1f} ms  max {x['max_ms']:8.1f} ms  {x['frames']}/{x['expected']} frames, "
            f"{x['frames_per_cpu_s']:7.0f} frames/CPU-s  "
            f"CPU {x['server_cpu_share']:.2f}/{x['clients_cpu_share']:.2f}  "
            f"gateway's own lag p50 {x['gateway_p50_ms']:.1f} ms p99 {x['gateway_p99_ms']:.1f} ms"
        )
    sse, ws, naive, bare = runs["sse"], runs["ws"], runs["naive"], runs["bare"]
    results: Results = {}
    pairs = (("sse", sse, naive, "naive gateway"), ("ws", ws, sse, "same gateway over SSE"))
    for name, run, base, vs in pairs:
        complete = run["frames"] >= run["expected"]
        for q in ("p50", "p99", "max"):
            target = "<= 50 ms, all frames" if q == "p99" else ""
            results[f"stream_{name}_lag_{q}"] = row(
                run[f"{q}_ms"],
                "ms",
                base[f"{q}_ms"],
                vs,
                target=target,
                ok=(run["p99_ms"] <= 50 and complete) if target else None,
            )
    for name, run in (("sse", sse), ("ws", ws)):
        # Publish to write() inside the gateway: its share of the lag, whatever the readers cost.
        results[f"stream_{name}_gateway_lag_p99"] = row(
            run["gateway_p99_ms"],
            "ms",
            run["p99_ms"],
            "end-to-end p99 read by the clients",
            target="<= 20 ms",
            ok=run["gateway_p99_ms"] <= 20,
        )
    if "sse_cores" in runs:
        multi = runs["sse_cores"]
        results["stream_sse_processes_frames_per_s"] = row(
            multi["frames"] / multi["wall_s"],
            f"frames/s on {multi['processes']} processes",
            sse["frames"] / sse["wall_s"],
            "one gateway process",
        )
        results["stream_sse_processes_lag_p99"] = row(
            multi["p99_ms"],
            "ms",
            sse["p99_ms"],
            "one gateway process",
            target="<= 50 ms, all frames",
            ok=multi["p99_ms"] <= 50 and multi["frames"] >= multi["expected"],
        )
    tenth = runs["sse_tenth"]
    results[f"stream_sse_lag_p99_at_{tenth['rate']:.0f}ev_s"] = row(
        tenth["p99_ms"], "ms", sse["p99_ms"], f"same gateway at {rate:.0f} events/s"
    )
    for name, run in (("sse", sse), ("ws", ws), ("naive", naive)):
        results[f"stream_{name}_frames_per_cpu_s"] = row(
            run["frames_per_cpu_s"],
            "frames/CPU-s",
            bare["frames_per_cpu_s"],
            "bare transport.write loop",
            target=">= 100k" if name != "naive" else "",
            ok=run["frames_per_cpu_s"] >= 100_000 if name != "naive" else None,
        )
    return results


if __name__ == "__main__":
    print(json.dumps(main(*(float(a) if "." in a else int(a) for a in sys.argv[1:])), indent=1))  # type: ignore[arg-type]
