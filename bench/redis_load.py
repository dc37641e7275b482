"""Redis load of N live dashboards: 2 s polling of ``GET /api/v1/stats`` vs the streaming gateway.

Jobs flow at 100/s throughout: each submitted, dispatched, started and completed
through the real scripts by this process, as a worker would (a real worker's idle
polling varies by hundreds of commands/s between windows, more than the gateway's
whole load). Redis commands/s are read from ``INFO commandstats`` deltas (every
command, those run inside Lua scripts included; the probe's own INFO excluded), over
a window of ``window_s`` (the issue's 60 s is shortened to fit ``make bench``'s
budget; the load is steady, so a shorter window only widens the noise). The job
flow's own commands are measured alone before each pair of windows and subtracted.

Baseline: N dashboards each polling the real API every 2 s (the seed's design).
Measured: N dashboards each holding one SSE connection to the real gateway.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import redis

from bench.procs import SECRET, TOKEN, raise_nofile, service, stop, wait_http
from bench.report import Results, row
from devstack import localredis
from shared import keys, transitions
from shared.catalog import DIAGNOSTICS_QUEUE
from shared.config import Settings
from shared.registry import Registry
from shared.submit import submit

#: Jobs per second flowing while the dashboards watch (the issue's figure).
JOB_RATE = 100
#: Commands of the probe itself, left out of the count.
PROBE_COMMANDS = ("info",)


def commands(client: redis.Redis) -> int:
    stats: dict[str, Any] = client.info("commandstats")
    return sum(
        v["calls"] for k, v in stats.items() if k.removeprefix("cmdstat_").split("|")[0] not in PROBE_COMMANDS
    )


def rate(client: redis.Redis, window_s: float) -> float:
    before, t0 = commands(client), time.monotonic()
    time.sleep(window_s)
    return (commands(client) - before) / (time.monotonic() - t0)


class Flow(threading.Thread):
    """Runs ``JOB_RATE`` no-op jobs per second through their whole life until stopped."""

    def __init__(self, registry: Registry) -> None:
        super().__init__(daemon=True)
        self.registry = registry
        self.halt = threading.Event()

    def run(self) -> None:
        start, i = time.monotonic(), 0
        q = DIAGNOSTICS_QUEUE
        while not self.halt.is_set():
            job_id = submit(self.registry, "noop")
            self.registry.run(transitions.dispatch(q, 1))
            self.registry.run(transitions.start(job_id, q, 0, "bench-worker"))
            self.registry.run(transitions.complete(job_id, q, 0, "bench-worker", "null"))
            i += 1
            if i % JOB_RATE == 0:  # what a worker's fetch and ack would take from Dramatiq's keys
                self.registry.client.delete(keys.dramatiq_queue_key(q), keys.dramatiq_messages_key(q))
            ahead = i / JOB_RATE - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)


def dashboards(mode: str, base: str, n: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.dashboards", mode, base, str(n)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    if (line := proc.stdout.readline().strip()) != "ready":
        raise SystemExit(f"dashboards ({mode}, {n}) failed to start: {line!r}")
    return proc


def ask(proc: subprocess.Popen[str]) -> dict[str, int]:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("\n")
    proc.stdin.flush()
    counts: dict[str, int] = json.loads(proc.stdout.readline())
    return counts


def watched(client: redis.Redis, mode: str, base: str, n: int, window_s: float) -> dict[str, float]:
    """Commands/s while N dashboards of one kind watch, and what they achieved."""
    proc = dashboards(mode, base, n)
    try:
        time.sleep(min(2.0, window_s / 2))  # past the connection burst (and one poll round)
        first, t0 = ask(proc), time.monotonic()
        cmds = rate(client, window_s)
        last = ask(proc)
        elapsed = time.monotonic() - t0
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        stop(proc)
    return {
        "cmds_s": cmds,
        "requests_s": (last["requests"] - first["requests"]) / elapsed,
        "errors": last["errors"] - first["errors"],
    }


def measure(url: str, tmp: Path, sizes: tuple[int, ...], window_s: float) -> dict[str, Any]:
    raise_nofile()
    settings = Settings(
        redis_url=url,
        api_port=localredis.free_port(),
        stream_port=localredis.free_port(),
        worker_metrics_port=localredis.free_port(),
        admin_token=TOKEN,
        secret=SECRET,
        log_level="warning",
        worker_processes=1,
        worker_threads=2,
        worker_queues=(DIAGNOSTICS_QUEUE,),
        stream_drain_s=0.5,
        stream_max_connections_per_address=0,  # every load client shares one loopback address
        stream_processes=1,  # one gateway process: the rows compare one event loop
    )
    client = redis.Redis.from_url(url, decode_responses=True)
    registry = Registry(settings)
    procs = [
        service("services.api", settings, tmp / "api.log"),
        service("services.stream", settings, tmp / "stream.log"),
    ]
    api, gateway = f"http://127.0.0.1:{settings.api_port}", f"http://127.0.0.1:{settings.stream_port}"
    flow = Flow(registry)
    try:
        wait_http(api + "/readyz")
        wait_http(gateway + "/readyz")
        flow.start()
        time.sleep(2.0)
        out: dict[str, Any] = {"sizes": {}}
        for n in sizes:
            alone = rate(client, window_s)
            poll = watched(client, "poll", api, n, window_s)
            sse = watched(client, "sse", gateway, n, window_s)
            out["sizes"][n] = {"alone": alone, "poll": poll, "sse": sse}
        return out
    finally:
        flow.halt.set()
        flow.join()
        for proc in procs:
            stop(proc)
        registry.close()
        client.close()


def main(sizes: tuple[int, ...] = (10, 100, 1000), window_s: float = 10.0) -> Results:
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        with localredis.running(tmp / "redis") as url:
            m = measure(url, tmp, sizes, window_s)
    print(f"Redis load of N dashboards, jobs at {JOB_RATE}/s, {window_s:.0f} s windows:")
    results: Results = {}
    for n, sides in m["sizes"].items():
        poll, sse, flow = sides["poll"], sides["sse"], sides["alone"]
        raw_sse = sse["cmds_s"] - flow
        poll_net, sse_net = poll["cmds_s"] - flow, max(0.0, raw_sse)  # below 0 is noise
        print(
            f"  N={n:<5} flow alone {flow:6.0f}, net of it: polling {poll_net:8.0f} commands/s "
            f"({poll['requests_s']:.0f} of {n / 2:.0f} polls/s served, {poll['errors']} errors)   "
            f"gateway {raw_sse:6.1f} commands/s"
        )
        big = n >= 1000
        results[f"redis_load_n{n}"] = row(
            sse_net,
            "Redis cmd/s",
            poll_net,
            f"{n} dashboards polling /stats every 2 s ({poll['requests_s']:.0f} polls/s served)",
            target="ratio <= 0.002" if big else "",
            ok=(poll_net > 0 and sse_net / poll_net <= 0.002) if big else None,
        )
    return results


if __name__ == "__main__":
    print(json.dumps(main((10, 100), 3.0), indent=1))
