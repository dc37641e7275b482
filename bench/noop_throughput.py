"""Throughput of a no-op actor: plain Dramatiq vs the same worker with facequeue's broker and middleware.

Run one side per process (Dramatiq keeps a global broker):
``python -m bench.noop_throughput {dramatiq|facequeue} REDIS_URL JOBS THREADS``
prints ``{"side": ..., "jobs": n, "seconds": s}``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from shared import keys
from shared.config import Settings
from shared.states import JobState

#: Seconds between two completion checks; small next to the runs measured.
POLL_S = 0.005
QUEUE = "diagnostics"


def _noop() -> None:
    """The actor body: nothing, so what is measured is the queue's own overhead."""


def _wait(done: Any, jobs: int, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out with jobs outstanding (of {jobs})")
        time.sleep(POLL_S)


def run_dramatiq(url: str, jobs: int, threads: int) -> float:
    broker = RedisBroker(url=url)
    dramatiq.set_broker(broker)
    actor = dramatiq.Actor(_noop, broker=broker, actor_name="noop", queue_name=QUEUE, priority=0, options={})
    for _ in range(jobs):
        actor.send()
    client = redis.Redis.from_url(url)
    worker = dramatiq.Worker(broker, worker_threads=threads)
    start = time.perf_counter()
    worker.start()
    # Acked messages leave the .msgs hash: empty means every message was processed and acked.
    _wait(lambda: client.hlen(keys.dramatiq_messages_key(QUEUE)) == 0, jobs)
    elapsed = time.perf_counter() - start
    worker.stop()
    return elapsed


def run_facequeue(url: str, jobs: int, threads: int) -> float:
    from services.worker.wiring import build_broker
    from shared.registry import Registry
    from shared.submit import submit

    settings = Settings(redis_url=url, worker_threads=threads, log_level="warning")
    broker = build_broker(settings, exporter=False)
    dramatiq.set_broker(broker)
    dramatiq.Actor(_noop, broker=broker, actor_name="noop", queue_name=QUEUE, priority=0, options={})
    registry = Registry(settings)
    for _ in range(jobs):
        submit(registry, "noop")
    completed = keys.state_key(QUEUE, JobState.COMPLETED)
    worker = dramatiq.Worker(broker, worker_threads=threads)
    start = time.perf_counter()
    worker.start()
    _wait(lambda: registry.client.zcard(completed) == jobs, jobs)
    elapsed = time.perf_counter() - start
    worker.stop()
    return elapsed


def main(argv: list[str]) -> None:
    side, url, jobs, threads = argv[0], argv[1], int(argv[2]), int(argv[3])
    logging.basicConfig(level=logging.WARNING)
    redis.Redis.from_url(url).flushall()
    seconds = {"dramatiq": run_dramatiq, "facequeue": run_facequeue}[side](url, jobs, threads)
    print(json.dumps({"side": side, "jobs": jobs, "seconds": seconds}))


if __name__ == "__main__":
    main(sys.argv[1:])
