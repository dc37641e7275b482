"""Job search by content among 100,000 jobs (issue 23): p50/p99 of an indexed search page.

Jobs are created by the real submit script (so the search index is the one the scripts
keep), pipelined: face searches spread over many galleries, a few in the gallery the
search looks for. Measured over real HTTP on a real API process: ``gallery:<needle>``
(index) and, for comparison, a scan-only term over the same jobs (``args.top_k:7``, budget
5,000). Pages of 50 (the dashboard's). Baseline: the same search among 1,000 jobs holding
the same 100 matches.
Run: ``python -m bench.job_search [JOBS]``.
"""

from __future__ import annotations

import gc
import hashlib
import json
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import redis

from bench.procs import AUTH, SECRET, TOKEN, service, stop, wait_http
from bench.report import Results, row
from devstack import localredis
from shared import transitions
from shared.config import Settings
from shared.jobs import new_job_id
from shared.scripts import Scripts

#: Gallery the measured search looks for.
NEEDLE = "needle"
#: One job in this many is in the needle gallery.
NEEDLE_EVERY = 1000
#: Galleries the other jobs spread over.
GALLERIES = 50
#: Pipeline depth while loading.
LOAD_BATCH = 2000
REQUESTS = 200


def fill(client: redis.Redis, jobs: int, needle_every: int = NEEDLE_EVERY) -> list[str]:
    """Submit ``jobs`` face searches through job_submit.lua, pipelined; returns the needle jobs' ids."""
    scripts = Scripts(client, 1000)
    needles: list[str] = []
    for start in range(0, jobs, LOAD_BATCH):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(jobs, start + LOAD_BATCH)):
            job_id = new_job_id()
            gallery = NEEDLE if i % needle_every == needle_every // 2 else f"g{i % GALLERIES}"
            if gallery == NEEDLE:
                needles.append(job_id)
            image = hashlib.sha256(str(i).encode()).hexdigest()
            request = {"image": image, "gallery": gallery, "top_k": 5, "threshold": 0.3}
            call = transitions.submit(
                job_id=job_id,
                queue="face_search",
                actor="face_search",
                args=[request],
                priority=5,
                max_retries=0,
                delay_ms=3_600_000,  # delayed: nothing dispatches them while measured
                template="",
            )
            scripts._invoke(call, pipe)
        pipe.execute()
    return needles


def timed_get(base: str, query: dict[str, str]) -> tuple[float, dict[str, Any]]:
    request = urllib.request.Request(f"{base}/api/v1/jobs?{urllib.parse.urlencode(query)}", headers=AUTH)
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
    return (time.perf_counter() - start) * 1000, body


def measure(base: str, query: dict[str, str]) -> tuple[float, float, dict[str, Any]]:
    for _ in range(20):  # warm up
        timed_get(base, query)
    # The client's own garbage collection (it just built 100,000 jobs) must not be timed as the
    # server's latency: collect once, then time with the collector off.
    gc.collect()
    gc.disable()
    try:
        runs = [timed_get(base, query) for _ in range(REQUESTS)]
    finally:
        gc.enable()
    times = sorted(t for t, _ in runs)
    return statistics.median(times), times[int(len(times) * 0.99)], runs[-1][1]


def run(url: str, jobs: int, tmp: Path) -> dict[str, Any]:
    """Both sizes hold the same number of matches, so the pages compared are alike."""
    client = redis.Redis.from_url(url)
    client.flushall()
    t0 = time.perf_counter()
    needles = fill(client, jobs, jobs * NEEDLE_EVERY // 100_000)
    load_s = time.perf_counter() - t0
    settings = Settings(
        redis_url=url, api_port=localredis.free_port(), admin_token=TOKEN, secret=SECRET, log_level="warning"
    )
    proc = service("services.api", settings, tmp / "api.log")
    base = f"http://127.0.0.1:{settings.api_port}"
    try:
        wait_http(base + "/readyz")
        indexed = measure(base, {"q": f"gallery:{NEEDLE}", "limit": "50"})
        scan = measure(base, {"q": "args.top_k:7", "limit": "50"})
        every = measure(base, {"q": f"gallery:{NEEDLE}", "limit": "500"})[2]
        found = sorted(j["id"] for j in every["jobs"])
        return {"indexed": indexed[:2], "scan": scan[:2], "exact": found == sorted(needles), "load_s": load_s}
    finally:
        stop(proc)
        client.close()


def main(jobs: int = 100_000) -> Results:
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        with localredis.running(tmp / "redis") as url:
            small = run(url, 1_000, tmp)
            large = run(url, jobs, tmp)
    (s50, s99), (l50, l99) = small["indexed"], large["indexed"]
    c50, c99 = large["scan"]
    print(
        f"job search, {REQUESTS} requests over real HTTP, {jobs:,} jobs "
        f"(loaded in {large['load_s']:.0f} s):\n"
        f"  gallery:{NEEDLE} (index, 100 matches, page of 50, exact: {large['exact']})  "
        f"p50 {l50:6.2f} ms  p99 {l99:6.2f} ms   (1,000 jobs: p50 {s50:.2f} ms, p99 {s99:.2f} ms)\n"
        f"  args.top_k:7 (scan, budget 5,000, no match)  p50 {c50:6.2f} ms  p99 {c99:6.2f} ms"
    )
    return {
        "search_indexed_p50": row(l50, "ms", s50, "same search, 1,000 jobs, same matches"),
        "search_indexed_p99": row(
            l99,
            "ms",
            s99,
            "same search, 1,000 jobs, same matches",
            target="<= 20 ms",
            ok=l99 <= 20 and large["exact"],
        ),
        "search_scan_p99": row(c99, "ms", l99, "indexed search, same jobs"),
    }


if __name__ == "__main__":
    print(json.dumps(main(*(int(a) for a in sys.argv[1:])), indent=1))
