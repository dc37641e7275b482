"""``make bench``: every benchmark against its same-run baseline, one table, ``bench/results.json``.

Each benchmark prints its detail as it goes; the table at the end has one row per
figure: value, baseline, ratio (value / baseline) and the issue's target where it
sets one. Sides that can share a machine badly (no-op throughput, enqueue-to-start)
run in their own processes and alternate over rounds, so drift hits both alike.
``--quick`` runs every part at a tiny size (the smoke test's mode; figures meaningless).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.procs import percentile
from bench.report import Results, read, row, table, write
from devstack import localredis

RESULTS = Path(__file__).with_name("results.json")
PARTS = (
    "noop",
    "limits",
    "recovery",
    "redis_load",
    "stream",
    "face",
    "api",
    "search",
    "operations",
    "memory",
    "replication",
)


def _run(module: str, *args: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-m", module, *args], check=True, capture_output=True, text=True
    ).stdout
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def job_overhead(jobs: int, threads: int, rounds: int, samples: int) -> Results:
    """No-op throughput and enqueue-to-start latency, Dramatiq alone vs facequeue."""
    sides = ("dramatiq", "facequeue")
    times: dict[str, list[float]] = {s: [] for s in sides}
    #: Microseconds of CPU per job, worker process and Redis server, per round.
    cpu: dict[str, list[tuple[float, float]]] = {s: [] for s in sides}
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = localredis.start(Path(tmp))
        try:
            for _ in range(rounds):
                for side in sides:
                    run = _run("bench.noop_throughput", side, url, str(jobs), str(threads))
                    times[side].append(float(run["seconds"]))  # type: ignore[arg-type]
                    process_s, redis_s = float(run["cpu_s"]), float(run["redis_cpu_s"])  # type: ignore[arg-type]
                    cpu[side].append((process_s / jobs * 1e6, redis_s / jobs * 1e6))
            lat: dict[str, list[float]] = {}
            for side in (*sides, "facequeue-poll10"):
                run = _run("bench.noop_throughput", f"latency-{side}", url, str(samples))
                lat[side] = list(run["latencies_ms"])  # type: ignore[call-overload]
        finally:
            proc.terminate()
            proc.wait()
    rate = {side: jobs / statistics.median(t) for side, t in times.items()}
    print(f"no-op throughput, {jobs} jobs, 1 process x {threads} threads, median of {rounds}:")
    for side, t in times.items():
        print(f"  {side:<10} {rate[side]:8.0f} jobs/s   (runs: {', '.join(f'{x:.2f}s' for x in t)})")
    cpu_per_job = {side: statistics.median(p + r for p, r in runs) for side, runs in cpu.items()}
    print("CPU per job over the same runs (worker process + Redis), median:")
    for side, runs in cpu.items():
        detail = ", ".join(f"{p:.0f}+{r:.0f}" for p, r in runs)
        print(f"  {side:<10} {cpu_per_job[side]:8.0f} us/job   (runs: {detail} us)")
    print(f"enqueue-to-start on an idle worker, {samples} jobs one at a time:")
    for side, values in lat.items():
        print(
            f"  {side:<16} p50 {percentile(values, 0.5):6.1f} ms  p99 {percentile(values, 0.99):6.1f} ms  "
            f"max {max(values):6.1f} ms"
        )
    ratio = rate["facequeue"] / rate["dramatiq"]
    results: Results = {
        "noop_jobs_per_s": row(
            rate["facequeue"],
            "jobs/s",
            rate["dramatiq"],
            "plain Dramatiq, same worker",
            target="ratio >= 0.77 (<= 1.3x)",
            ok=ratio >= 1 / 1.3,
        ),
        "noop_cpu_per_job": row(
            cpu_per_job["facequeue"], "us", cpu_per_job["dramatiq"], "plain Dramatiq, same worker"
        ),
    }
    for q, name in ((0.5, "p50"), (0.99, "p99")):
        value = percentile(lat["facequeue"], q)
        results[f"enqueue_to_start_{name}"] = row(
            value,
            "ms",
            percentile(lat["dramatiq"], q),
            "plain Dramatiq, idle worker",
            target="<= 10 ms",
            ok=value <= 10,
        )
    results["enqueue_to_start_p50_poll10ms"] = row(
        percentile(lat["facequeue-poll10"], 0.5),
        "ms",
        percentile(lat["facequeue"], 0.5),
        "facequeue, default 200 ms idle poll",
    )
    return results


def face(quick: bool) -> Results:
    # Its own process: BLAS threads are fixed before numpy is first imported.
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "face.json"
        args = [str(out), "1", "1000"] if quick else [str(out)]
        subprocess.run([sys.executable, "-m", "bench.face_search", *args], check=True)
        return read(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="+", choices=PARTS, help="run only these parts")
    parser.add_argument("--skip", nargs="+", choices=PARTS, default=[], help="skip these parts")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run, figures meaningless")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results file (default {RESULTS})")
    args = parser.parse_args(argv)
    quick = args.quick
    parts = [p for p in (args.only or PARTS) if p not in args.skip]

    def stream() -> Results:
        from bench import stream_fanout

        return stream_fanout.main(*((20, 20.0, 1.0) if quick else ()))

    def redis_load() -> Results:
        from bench import redis_load as rl

        return rl.main((3,), 1.0) if quick else rl.main()

    def api() -> Results:
        from bench import api_latency

        return api_latency.main(1_000, requests=10) if quick else api_latency.main(1_000_000)

    def search() -> Results:
        from bench import job_search

        return job_search.main(2_000 if quick else 100_000)

    def operations() -> Results:
        # 300,000 keeps make bench under 15 minutes; `python -m bench.operations` runs the million.
        from bench import operations as ops

        return ops.main(2_000, 500) if quick else ops.main(300_000, 30_000)

    def memory() -> Results:
        from bench import idle_clients, memory_cost

        return {**memory_cost.main(200 if quick else 10_000), **idle_clients.main(60 if quick else 10_000)}

    def replication() -> Results:
        from bench import replication as rp

        return rp.results(rp.main(200 if quick else 2_000))

    def limits() -> Results:
        from bench import dispatch_limits

        return dispatch_limits.main(200 if quick else 2000)

    def recovery() -> Results:
        from bench import recovery as rc

        return rc.main()

    runners: dict[str, Callable[[], Results]] = {
        "noop": lambda: job_overhead(*((50, 2, 1, 3) if quick else (2000, 4, 3, 20))),
        "limits": limits,
        "recovery": recovery,
        "redis_load": redis_load,
        "stream": stream,
        "face": lambda: face(quick),
        "api": api,
        "search": search,
        "operations": operations,
        "memory": memory,
        "replication": replication,
    }
    results: Results = {}
    started = time.monotonic()
    for part in parts:
        t0 = time.monotonic()
        print(f"== {part}", flush=True)
        results.update(runners[part]())
        print(f"   ({time.monotonic() - t0:.0f} s)", flush=True)
        write(results, args.out)  # a partial file if a later part fails
    print(f"\n{len(results)} figures in {time.monotonic() - started:.0f} s (ratio = value / baseline):")
    print(table(results))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
