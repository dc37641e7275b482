"""The registry at scale: API latency and ``clean`` with a million jobs, against a thousand.

p50/p99 of ``GET /api/v1/stats``, a job list page (completed jobs, the state's
newest page), the newest-first search page and a job detail, over real HTTP on a
real API process; then ``POST /api/v1/queues/{q}/clean`` of every job, the operation a
real monitor process runs in batches: its total time and the longest single Redis command
while it ran (SLOWLOG at a 1 ms threshold:
Redis 7 also logs the commands a script runs, so at 0 the log itself slowed the
scripts and overflowed; a script counts as one command, which is what blocks Redis).
Baseline: the same requests and the same clean with 1,000 jobs.

Jobs are loaded as completed records written straight into the registry's keys,
pipelined (a million script calls would take minutes of the bench's budget); the
records have the fields and sizes a completed no-op job has.
Run: ``python -m bench.api_latency [JOBS]``.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import redis

from bench.operations import call, finished_record, reset_slowlog, slowlog, wait_done
from bench.procs import AUTH, SECRET, TOKEN, service, stop, wait_http
from bench.report import Results, row
from devstack import localredis
from shared import keys
from shared.catalog import DIAGNOSTICS_QUEUE
from shared.config import Settings
from shared.jobs import new_job_id
from shared.states import JobState

REQUESTS = 200
QUEUE = DIAGNOSTICS_QUEUE
PATHS = {
    "stats": "/api/v1/stats",
    "list_page": f"/api/v1/jobs?queue={QUEUE}&state=completed&limit=50",
    "newest_page": "/api/v1/jobs?limit=50",
}
#: Pipeline depth while loading.
LOAD_BATCH = 2000


def load(client: redis.Redis, jobs: int) -> list[str]:
    """``jobs`` completed no-op jobs, finished over the last hour; returns a sample of ids."""
    now_ms = int(time.time() * 1000)
    completed = keys.state_key(QUEUE, JobState.COMPLETED)
    sample: list[str] = []
    for start in range(0, jobs, LOAD_BATCH):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(jobs, start + LOAD_BATCH)):
            job_id = new_job_id()
            finished = now_ms - 3_600_000 + i * 3_600_000 // jobs
            record = finished_record(
                job_id,
                i,
                finished,
                "completed",
                max_retries=3,
                progress=100,
                result="null",
                error="",
                traceback="",
            )
            pipe.hset(keys.job_key(job_id), mapping=record)
            pipe.zadd(completed, {job_id: finished})
            pipe.zadd(keys.JOBS_INDEX, {job_id: 0})
            if i % (jobs // 100 or 1) == 0:
                sample.append(job_id)
        pipe.sadd(keys.QUEUES, QUEUE)
        pipe.execute()
    return sample


def timed_get(base: str, path: str) -> float:
    request = urllib.request.Request(base + path, headers=AUTH)
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
    return (time.perf_counter() - start) * 1000


def measure(base: str, sample: list[str], requests: int = REQUESTS) -> dict[str, tuple[float, float]]:
    paths = {**PATHS, "job_detail": ""}
    out = {}
    for name, path in paths.items():
        times = sorted(
            timed_get(base, path or f"/api/v1/jobs/{random.choice(sample)}") for _ in range(requests)
        )
        out[name] = (statistics.median(times), times[int(len(times) * 0.99)])
    return out


def clean(base: str, client: redis.Redis) -> dict[str, Any]:
    """Clean every completed job through the API (an operation the monitor runs); total seconds
    from the request to the operation's end, and the slowest command (ms) meanwhile."""
    reset_slowlog(client)
    body = {"states": ["completed"], "older_than_s": 0}
    start = time.perf_counter()
    made = call(base, "POST", f"/api/v1/queues/{QUEUE}/clean", body)[1]
    op = wait_done(base, made["operations"][0]["id"])
    total_s = time.perf_counter() - start
    probe = slowlog(client)
    client.config_set("slowlog-log-slower-than", 10_000)
    # On a shared machine one script can be preempted mid-run: say how many were slow, not just the worst.
    return {"removed": op["done"], "total_s": total_s, **probe}


def run(url: str, jobs: int, tmp: Path, requests: int = REQUESTS) -> dict[str, Any]:
    client = redis.Redis.from_url(url)
    client.flushall()
    t0 = time.perf_counter()
    sample = load(client, jobs)
    load_s = time.perf_counter() - t0
    settings = Settings(
        redis_url=url, api_port=localredis.free_port(), admin_token=TOKEN, secret=SECRET, log_level="warning"
    )
    proc = service("services.api", settings, tmp / "api.log")
    monitor = None
    base = f"http://127.0.0.1:{settings.api_port}"
    try:
        wait_http(base + "/readyz")
        measure(base, sample, requests)  # warm up
        latency = measure(base, sample, requests)
        # The monitor runs the clean (its ticks would only add noise to the latencies above).
        monitor = service("services.monitor", settings, tmp / "monitor.log")
        cleaned = clean(base, client)
        return {"latency": latency, "clean": cleaned, "load_s": load_s}
    finally:
        if monitor is not None:
            stop(monitor)
        stop(proc)
        client.close()


def main(jobs: int = 1_000_000, requests: int = REQUESTS) -> Results:
    """``requests`` per path and registry size (the smoke run in make test takes few)."""
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        with localredis.running(tmp / "redis") as url:
            small = run(url, 1_000, tmp, requests)
            large = run(url, jobs, tmp, requests)
    print(
        f"registry at scale, {requests} requests each over real HTTP, {jobs:,} jobs "
        f"(loaded in {large['load_s']:.0f} s) vs 1,000:"
    )
    targets = {"stats": 5.0, "list_page": 20.0}
    results: Results = {}
    for name in (*PATHS, "job_detail"):
        (s50, s99), (l50, l99) = small["latency"][name], large["latency"][name]
        print(
            f"  {name:<12} p50 {l50:6.2f} ms  p99 {l99:6.2f} ms   "
            f"(1,000 jobs: p50 {s50:6.2f} ms, p99 {s99:6.2f} ms)"
        )
        results[f"api_{name}_p50"] = row(l50, "ms", s50, "same API, 1,000 jobs")
        target = targets.get(name)
        results[f"api_{name}_p99"] = row(
            l99,
            "ms",
            s99,
            "same API, 1,000 jobs",
            target=f"<= {target:.0f} ms" if target else "",
            ok=l99 <= target if target else None,
        )
    sc, lc = small["clean"], large["clean"]
    print(
        f"  clean        {lc['removed']:,} jobs in {lc['total_s']:.1f} s, slowest command "
        f"{lc['max_cmd_ms']:.2f} ms ({lc['cmd']}); commands over 1 ms: {lc['over_1ms']}, over 10 ms: "
        f"{lc['over_10ms']}   (1,000 jobs: {sc['total_s']:.2f} s, "
        f"slowest {sc['max_cmd_ms']:.2f} ms)"
    )
    results["clean_total"] = row(
        lc["total_s"], "s", sc["total_s"] * jobs / 1000, f"1,000-job clean scaled x{jobs // 1000}"
    )
    results["clean_slowest_command"] = row(
        lc["max_cmd_ms"],
        "ms",
        sc["max_cmd_ms"],
        "slowest command cleaning 1,000 jobs",
        target="<= 10 ms",
        ok=lc["max_cmd_ms"] <= 10,
    )
    return results


if __name__ == "__main__":
    print(json.dumps(main(*(int(a) for a in sys.argv[1:])), indent=1))
