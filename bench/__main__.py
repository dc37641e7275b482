"""``make bench``: run every benchmark against its same-run baseline and print ratios.

Each side runs in its own process against a private redis-server, alternating
sides over several rounds so drift on a noisy machine hits both alike; the
median of each side is compared.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from shared import localredis


def measure(side: str, url: str, jobs: int, threads: int) -> float:
    out = subprocess.run(
        [sys.executable, "-m", "bench.noop_throughput", side, url, str(jobs), str(threads)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-recovery", action="store_true", help="skip the ~20 s kill -9 recovery run")
    parser.add_argument("--skip-stream", action="store_true", help="skip the ~3 min stream gateway runs")
    parser.add_argument("--skip-api", action="store_true", help="skip the ~6 min API run over a million jobs")
    parser.add_argument("--skip-face", action="store_true", help="skip the ~2 min face search runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = localredis.start(Path(tmp))
        try:
            times: dict[str, list[float]] = {"dramatiq": [], "facequeue": []}
            for _ in range(args.rounds):
                for side in times:
                    times[side].append(measure(side, url, args.jobs, args.threads))
        finally:
            proc.terminate()
            proc.wait()
    rate = {side: args.jobs / statistics.median(t) for side, t in times.items()}
    print(f"noop throughput, {args.jobs} jobs, 1 process x {args.threads} threads, median of {args.rounds}:")
    for side, t in times.items():
        runs = ", ".join(f"{x:.2f}s" for x in t)
        print(f"  {side:<10} {rate[side]:8.0f} jobs/s   (runs: {runs})")
    print(f"  ratio facequeue/dramatiq: {rate['facequeue'] / rate['dramatiq']:.2f}")
    if not args.skip_recovery:
        from bench import recovery

        recovery.main()
    if not args.skip_stream:
        from bench import stream_fanout

        stream_fanout.main()
    if not args.skip_face:
        # Its own process: BLAS threads are fixed before numpy is first imported.
        subprocess.run([sys.executable, "-m", "bench.face_search"], check=True)
    if not args.skip_api:
        from bench import api_latency

        api_latency.main()


if __name__ == "__main__":
    main()
