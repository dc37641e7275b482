"""What ``FQ_REDIS_MIN_REPLICAS_ACK`` costs (issue 17): a private primary with one replica on loopback.

``python -m bench --only replication`` (or ``python -m bench.replication [N]``) times N
submissions, and N jobs' whole registry lifecycle (submit, dispatch, start, complete: the
scripts a worker runs per job), with 0 and with 1 replica ack: p50 and p99 of each.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from bench.procs import percentile
from bench.report import Results, row
from devstack import localredis
from shared import transitions
from shared.config import Settings
from shared.registry import Registry
from shared.submit import submit_call

QUEUE = "diagnostics"


def lifecycle(registry: Registry, job_id: str) -> tuple[float, float]:
    """Seconds of the submission, and of submission through completion."""
    settings = registry.settings
    began = time.perf_counter()
    registry.run(submit_call("noop", [], settings=settings, job_id=job_id)[1])
    submitted = time.perf_counter()
    registry.run(transitions.dispatch(QUEUE, 1))
    registry.run(transitions.start(job_id, QUEUE, 0, "bench"))
    registry.run(transitions.complete(job_id, QUEUE, 0, "bench", "null"))
    registry.client.delete(f"dramatiq:{QUEUE}")  # the copy no worker fetches here
    return submitted - began, time.perf_counter() - began


def measure(url: str, acks: int, jobs: int) -> dict[str, float]:
    registry = Registry(Settings(redis_url=url, redis_min_replicas_ack=acks))
    try:
        registry.client.flushall()
        runs = [lifecycle(registry, f"{acks}-{n}") for n in range(jobs)]
    finally:
        registry.close()
    submit_ms = [s * 1000 for s, _ in runs]
    job_ms = [j * 1000 for _, j in runs]
    return {
        "submit_p50_ms": percentile(submit_ms, 0.5),
        "submit_p99_ms": percentile(submit_ms, 0.99),
        "job_p50_ms": percentile(job_ms, 0.5),
        "job_p99_ms": percentile(job_ms, 0.99),
    }


def main(jobs: int) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        primary, url = localredis.start(Path(tmp) / "p")
        port = url.rsplit(":", 1)[1].split("/")[0]
        replica, replica_url = localredis.start(
            Path(tmp) / "r", extra_args=("--replicaof", "127.0.0.1", port)
        )
        try:
            with Registry(Settings(redis_url=replica_url)).client as probe:
                while probe.info("replication").get("master_link_status") != "up":
                    time.sleep(0.05)  # the replica's first sync
            return {f"acks_{n}": measure(url, n, jobs) for n in (0, 1)}
        finally:
            for proc in (replica, primary):
                proc.terminate()
                proc.wait()


def results(figures: dict[str, dict[str, float]]) -> Results:
    """``make bench`` rows: each figure with one replica ack against the same without."""
    with_ack, without = figures["acks_1"], figures["acks_0"]
    return {
        f"replica_ack_{name}": row(with_ack[name], "ms", without[name], "FQ_REDIS_MIN_REPLICAS_ACK=0")
        for name in ("submit_p50_ms", "submit_p99_ms", "job_p50_ms", "job_p99_ms")
    }


if __name__ == "__main__":
    figures = main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
    for name, values in figures.items():
        print(name, " ".join(f"{k} {v:.3f}" for k, v in values.items()))
    print(json.dumps(figures))
