"""Operations at scale (issue 20): preview and retry a million failed jobs, kill the monitor half-way.

On a private redis-server: N failed jobs in five failure groups, written pipelined with the
shape ``job_fail.lua`` writes (a record with its fingerprint, the failed set, the group's set,
hash and index), then over real HTTP on a real API process and real monitor processes:

- the dry-run preview's latency (p50/p99 of 20) and the real run's 202 latency;
- the run itself: total duration, and the slowest Redis command while it ran (SLOWLOG at
  1 ms; a script counts as one command, which is what blocks Redis);
- a ``kill -9`` of the monitor half-way: a second replica takes over once the lease expires
  (``FQ_OPERATION_LEASE_S``); the gap is reported, and every job is checked retried once;
- delete-then-undo of M failed jobs: both durations, and the jobs, sets and groups restored.

Run: ``python -m bench.operations [JOBS] [UNDO_JOBS]`` (defaults 1,000,000 and 100,000).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import redis
from redis.typing import EncodableT, FieldT

from bench.procs import AUTH, SECRET, TOKEN, service, stop, wait_http
from bench.report import Results, row
from devstack import localredis
from shared import keys
from shared.catalog import DIAGNOSTICS_QUEUE
from shared.config import Settings
from shared.jobs import new_job_id
from shared.scripts import SOURCES

QUEUE = DIAGNOSTICS_QUEUE
#: The five causes jobs fail with (fingerprint, exception).
CAUSES = [
    (f"bench{n}", exc) for n, exc in enumerate(("KeyError", "ValueError", "TimeoutError", "OSError", "E"))
]
#: Pipeline depth while loading.
LOAD_BATCH = 5000
#: SLOWLOG threshold (µs) while operations run.
SLOWLOG_US = 1000
FAILED_FILTER = {"queue": QUEUE, "state": "failed"}


def bench_settings(url: str, **more: Any) -> Settings:
    """The API's and monitors' settings on the bench's Redis (a free API port, quiet logs)."""
    return Settings(
        redis_url=url,
        api_port=localredis.free_port(),
        admin_token=TOKEN,
        secret=SECRET,
        log_level="warning",
        monitor_interval_s=5.0,
        failed_keep_count=100_000_000,  # retention would trim the million failed jobs meanwhile
        **more,
    )


def finished_record(
    job_id: str, i: int, finished_ms: int, state: str, **fields: EncodableT
) -> dict[FieldT, EncodableT]:
    """The record of the ``i``-th loaded no-op job, finished in ``state`` at ``finished_ms``, with
    the fields and sizes the scripts write (its three transitions in its timeline); ``fields``
    adds or overrides fields (the outcome's own)."""
    steps = ((None, "waiting"), ("waiting", "active"), ("active", state))
    timeline = "".join(
        json.dumps({"from": a, "to": b, "seq": 3 * i + n, "ts": finished_ms / 1000}) + "\n"
        for n, (a, b) in enumerate(steps)
    )
    record: dict[FieldT, EncodableT] = {
        "id": job_id,
        "queue": QUEUE,
        "actor": "noop",
        "state": state,
        "priority": 5,
        "args": "[]",
        "created_ms": finished_ms - 5,
        "enqueued_ms": finished_ms - 5,
        "started_ms": finished_ms - 1,
        "finished_ms": finished_ms,
        "eta_ms": "",
        "attempts": 1,
        "gen": 0,
        "dispatches": 1,
        "worker": "bench-0000",
        "timeline": timeline,
    }
    record.update(fields.items())
    return record


def load(client: redis.Redis, jobs: int) -> dict[str, int]:
    """``jobs`` failed no-op jobs, finished over the last hour, in five groups; returns group sizes."""
    now_ms = int(time.time() * 1000)
    failed = keys.state_key(QUEUE, "failed")
    sizes = {fp: 0 for fp, _ in CAUSES}
    for start in range(0, jobs, LOAD_BATCH):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(jobs, start + LOAD_BATCH)):
            job_id = new_job_id()
            fp, exc = CAUSES[i % len(CAUSES)]
            finished = now_ms - 3_600_000 + i * 3_600_000 // jobs
            pipe.hset(
                keys.job_key(job_id),
                mapping=finished_record(
                    job_id,
                    i,
                    finished,
                    "failed",
                    max_retries=0,
                    progress=0,
                    error=f"{exc}: boom {i}",
                    traceback="tb",
                    fingerprint=fp,
                    exception=exc,
                ),
            )
            pipe.zadd(failed, {job_id: finished})
            pipe.zadd(keys.JOBS_INDEX, {job_id: 0})
            pipe.zadd(keys.failure_group_jobs_key(QUEUE, fp), {job_id: finished})
            sizes[fp] += 1
        pipe.sadd(keys.QUEUES, QUEUE)
        pipe.execute()
    for fp, exc in CAUSES:
        client.hset(
            keys.failure_group_key(QUEUE, fp),
            mapping={
                "fingerprint": fp,
                "queue": QUEUE,
                "count": sizes[fp],
                "first_ms": now_ms - 3_600_000,
                "last_ms": now_ms,
                "sample": "",
                "actor": "noop",
                "exception": exc,
                "message": f"{exc}: boom",
            },
        )
        client.zadd(keys.failure_groups_key(QUEUE), {fp: now_ms})
    return sizes


def call(base: str, method: str, path: str, body: Any = None) -> tuple[float, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        base + path, data=data, headers={**AUTH, "Content-Type": "application/json"}, method=method
    )
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        answer: Any = json.loads(response.read())
    return (time.perf_counter() - start) * 1000, answer


#: Script name by SHA-1 (what SLOWLOG shows of an EVALSHA).
SCRIPT_OF = {hashlib.sha1(src.encode()).hexdigest(): lua.value for lua, src in SOURCES.items()}


def command_name(command: Any) -> str:
    text = command.decode(errors="replace") if isinstance(command, bytes) else str(command)
    parts = text.split(" ")
    if parts[0].upper() == "EVALSHA" and len(parts) > 1:
        return SCRIPT_OF.get(parts[1], "EVALSHA")
    return parts[0]


def slowlog(client: redis.Redis) -> dict[str, Any]:
    entries: list[dict[str, Any]] = client.slowlog_get(-1)
    batches = sorted(int(e["duration"]) for e in entries if command_name(e["command"]) == "op_batch")
    if os.environ.get("BENCH_SLOWLOG"):
        for e in sorted(entries, key=lambda e: -int(e["duration"]))[:8]:
            print(int(e["duration"]) / 1000, str(e["command"])[:400], file=sys.stderr)
    worst: dict[str, Any] = max(
        entries, key=lambda e: int(e["duration"]), default={"duration": 0, "command": b""}
    )
    name = command_name(worst["command"])
    stats = client.info("commandstats").get("cmdstat_evalsha", {})
    return {
        "evalsha_calls": int(stats.get("calls", 0)),
        "evalsha_mean_ms": float(stats.get("usec_per_call", 0)) / 1000,
        "max_cmd_ms": int(worst["duration"]) / 1000,
        "op_batch_over_1ms": len(batches),
        "op_batch_over_10ms": sum(1 for d in batches if d > 10_000),
        "op_batch_max_ms": (batches[-1] / 1000) if batches else 0.0,
        "cmd": name,
        "over_1ms": len(entries),
        "over_10ms": sum(1 for e in entries if int(e["duration"]) > 10_000),
    }


def reset_slowlog(client: redis.Redis) -> None:
    client.config_resetstat()
    client.config_set("slowlog-max-len", 1_000_000)
    client.config_set("slowlog-log-slower-than", SLOWLOG_US)
    client.slowlog_reset()


def wait_done(base: str, op_id: str, timeout: float = 3600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        op: dict[str, Any] = call(base, "GET", f"/api/v1/operations/{op_id}")[1]
        if op["state"] in ("done", "cancelled", "failed"):
            return op
        if time.monotonic() > deadline:
            raise TimeoutError(op)
        time.sleep(0.1)


def flush(client: redis.Redis) -> None:
    """Empty the server and wait until its memory is freed too (a million jobs take longer to free
    than a socket waits, and freeing in the background would slow what is measured next)."""
    client.flushall(asynchronous=True)
    while client.dbsize() or int(client.info("memory").get("lazyfree_pending_objects", 0)):
        time.sleep(0.1)


def retry_million(url: str, jobs: int, tmp: Path) -> dict[str, Any]:
    client = redis.Redis.from_url(url, decode_responses=True)
    flush(client)
    t0 = time.perf_counter()
    sizes = load(client, jobs)
    load_s = time.perf_counter() - t0
    settings = bench_settings(url)
    api = service("services.api", settings, tmp / "api.log")
    monitors: list[subprocess.Popen[bytes]] = []
    base = f"http://127.0.0.1:{settings.api_port}"
    try:
        wait_http(base + "/readyz")
        preview = sorted(
            call(
                base,
                "POST",
                "/api/v1/operations",
                {"action": "retry", "filter": FAILED_FILTER, "dry_run": True},
            )[0]
            for _ in range(20)
        )
        _, dry = call(
            base, "POST", "/api/v1/operations", {"action": "retry", "filter": FAILED_FILTER, "dry_run": True}
        )
        assert dry["total"] == jobs, dry
        reset_slowlog(client)
        created_ms, op = call(
            base, "POST", "/api/v1/operations", {"action": "retry", "filter": FAILED_FILTER}
        )
        assert op["total"] == jobs
        run_start = time.perf_counter()
        for n in range(2):
            own = dataclasses.replace(settings, monitor_port=localredis.free_port())
            monitors.append(service("services.monitor", own, tmp / f"monitor-{n}.log"))
            wait_http(f"http://127.0.0.1:{own.monitor_port}/readyz")
        # Kill -9 whichever replica holds the lease, half-way.
        op_key = keys.operation_key(op["id"])
        holder = ""
        while int(client.hget(op_key, "done") or 0) < jobs // 2 or not holder:
            holder = str(client.get(keys.OPERATIONS_LEASE) or "")
            if client.hget(op_key, "state") == "done":
                break
            time.sleep(0.005)
        victim = next((m for m in monitors if f":{m.pid}:" in holder), None)
        done_at_kill, resumed_s = jobs, float("nan")
        if victim is not None:
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait()
            killed_at = time.perf_counter()
            done_at_kill = int(client.hget(op_key, "done") or 0)
            while int(client.hget(op_key, "done") or 0) == done_at_kill and done_at_kill < jobs:
                time.sleep(0.01)
            resumed_s = time.perf_counter() - killed_at
        final = wait_done(base, op["id"])
        total_s = time.perf_counter() - run_start
        slow = slowlog(client)
        client.config_set("slowlog-log-slower-than", 10_000)
        # Every job waiting, retried exactly once (one retry entry in its timeline), groups empty.
        retried_twice = 0
        cursor = 0
        checked = 0
        while True:
            cursor, ids = client.zscan(keys.JOBS_INDEX, cursor, count=5000)
            pipe = client.pipeline(transaction=False)
            for job_id, _ in ids:
                pipe.hget(keys.job_key(str(job_id)), "timeline")
            for timeline in pipe.execute():
                retried_twice += timeline.count('"reason": "retry"') + timeline.count('"reason":"retry"') != 1
                checked += 1
            if cursor == 0:
                break
        return {
            "load_s": load_s,
            "preview_p50_ms": statistics.median(preview),
            "preview_p99_ms": preview[-1],
            "create_ms": created_ms,
            "total_s": total_s,
            "resumed_after_kill_s": resumed_s,
            "done_at_kill": done_at_kill,
            "final": final,
            "waiting": client.zcard(keys.state_key(QUEUE, "waiting"))
            + client.zcard(keys.dispatched_key(QUEUE)),
            "groups_left": client.zcard(keys.failure_groups_key(QUEUE)),
            "checked": checked,
            "not_retried_once": retried_twice,
            "sizes": sizes,
            **slow,
        }
    finally:
        for m in monitors:
            if m.poll() is None:
                stop(m)
        stop(api)
        client.close()


def delete_and_undo(url: str, jobs: int, tmp: Path) -> dict[str, Any]:
    client = redis.Redis.from_url(url, decode_responses=True)
    flush(client)
    load(client, jobs)
    failed_before = client.zrange(keys.state_key(QUEUE, "failed"), 0, -1, withscores=True)
    groups_before = {fp: client.hget(keys.failure_group_key(QUEUE, fp), "count") for fp, _ in CAUSES}
    settings = bench_settings(url, monitor_port=localredis.free_port())
    api = service("services.api", settings, tmp / "api2.log")
    monitor = service("services.monitor", settings, tmp / "monitor2.log")
    base = f"http://127.0.0.1:{settings.api_port}"
    try:
        wait_http(base + "/readyz")
        wait_http(f"http://127.0.0.1:{settings.monitor_port}/readyz")
        reset_slowlog(client)
        start = time.perf_counter()
        _, op = call(base, "POST", "/api/v1/operations", {"action": "delete", "filter": FAILED_FILTER})
        deleted = wait_done(base, op["id"])
        delete_s = time.perf_counter() - start
        assert client.zcard(keys.state_key(QUEUE, "failed")) == 0
        start = time.perf_counter()
        _, undo = call(base, "POST", f"/api/v1/operations/{op['id']}/undo")
        undone = wait_done(base, undo["id"])
        undo_s = time.perf_counter() - start
        slow = slowlog(client)
        client.config_set("slowlog-log-slower-than", 10_000)
        restored = client.zrange(keys.state_key(QUEUE, "failed"), 0, -1, withscores=True) == failed_before
        groups_after = {fp: client.hget(keys.failure_group_key(QUEUE, fp), "count") for fp, _ in CAUSES}
        return {
            "delete_s": delete_s,
            "undo_s": undo_s,
            "deleted": deleted["done"],
            "restored": undone["done"],
            "failed_set_identical": restored,
            "groups_identical": groups_after == groups_before,
            "trash_left": client.zcard(keys.TRASH),
            **slow,
        }
    finally:
        stop(monitor)
        stop(api)
        client.close()


def main(jobs: int = 1_000_000, undo_jobs: int = 100_000) -> Results:
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        with localredis.running(tmp / "redis", maxmemory="16gb") as url:
            undo = delete_and_undo(url, undo_jobs, tmp)
            print(json.dumps(undo), flush=True)
            big = retry_million(url, jobs, tmp)
    print(f"operations at scale: {jobs:,} failed jobs in 5 groups (loaded in {big['load_s']:.0f} s)")
    print(
        f"  preview (dry run)   p50 {big['preview_p50_ms']:.1f} ms, p99 {big['preview_p99_ms']:.1f} ms;"
        f" real run answered 202 in {big['create_ms']:.1f} ms"
    )
    print(
        f"  retry of all        {big['final']['done']:,} done in {big['total_s']:.1f} s"
        f" ({big['final']['done'] / big['total_s']:,.0f} jobs/s), slowest command {big['max_cmd_ms']:.2f} ms"
        f" ({big['cmd']}); over 1 ms: {big['over_1ms']}, over 10 ms: {big['over_10ms']};"
        f" op_batch calls over 10 ms: {big['op_batch_over_10ms']}, slowest {big['op_batch_max_ms']:.2f} ms;"
        f" {big['evalsha_calls']:,} script calls, mean {big['evalsha_mean_ms']:.2f} ms"
    )
    print(
        f"  kill -9 half-way    at {big['done_at_kill']:,} done; the other replica resumed after"
        f" {big['resumed_after_kill_s']:.1f} s; {big['waiting']:,} waiting, {big['checked']:,} checked,"
        f" {big['not_retried_once']} not retried exactly once; groups left {big['groups_left']}"
    )
    print(
        f"  delete + undo       {undo_jobs:,} deleted in {undo['delete_s']:.1f} s,"
        f" restored {undo['restored']:,} in {undo['undo_s']:.1f} s;"
        f" failed set identical {undo['failed_set_identical']}, groups identical {undo['groups_identical']};"
        f" slowest command {undo['max_cmd_ms']:.2f} ms ({undo['cmd']}),"
        f" over 10 ms: {undo['over_10ms']}, script mean {undo['evalsha_mean_ms']:.2f} ms"
    )
    return {
        "operations_preview_p99": row(
            big["preview_p99_ms"],
            "ms",
            big["preview_p50_ms"],
            "p50",
            target="< 100 ms",
            ok=big["preview_p99_ms"] < 100,
        ),
        "operations_create_202": row(
            big["create_ms"], "ms", big["preview_p50_ms"], "preview p50", target="< 100 ms"
        ),
        "operations_retry_total": row(
            big["total_s"], "s", undo["delete_s"] * jobs / undo_jobs, "delete, scaled"
        ),
        "operations_slowest_command": row(
            big["max_cmd_ms"],
            "ms",
            undo["max_cmd_ms"],
            "delete/undo",
            target="<= 10 ms",
            ok=big["max_cmd_ms"] <= 10,
        ),
        "operations_resume_after_kill": row(big["resumed_after_kill_s"], "s", 5.0, "lease TTL"),
        "operations_undo_total": row(undo["undo_s"], "s", undo["delete_s"], "the delete"),
    }


if __name__ == "__main__":
    print(json.dumps(main(*(int(a) for a in sys.argv[1:])), indent=1))
