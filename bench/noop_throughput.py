"""Throughput of a no-op actor: plain Dramatiq vs the same worker with facequeue's broker and middleware.

Run one side per process (Dramatiq keeps a global broker):
``python -m bench.noop_throughput {dramatiq|facequeue} REDIS_URL JOBS THREADS``
prints ``{"side": ..., "jobs": n, "seconds": s, "cpu_s": c, "redis_cpu_s": r}``: the
CPU the process (worker threads and the completion poll) and the Redis server spent
over the same window. Both sides' throughput is bounded by Dramatiq's consumer
backoff when the machine is idle, so the CPU shows the per-job cost it hides.

``python -m bench.noop_throughput latency-{dramatiq|facequeue|facequeue-poll10} REDIS_URL SAMPLES`` measures
enqueue-to-start on an idle worker (1 thread): one job at a time, each sent after a
pause long enough for the worker's idle polling to back off fully, and timed from
just before the send to the first line of the actor body (same process, same
clock); prints ``{"side": ..., "latencies_ms": [...]}``.
"""

from __future__ import annotations

import json
import logging
import random
import resource
import sys
import threading
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


def _redis_cpu_s(client: redis.Redis) -> float:
    info: dict[str, Any] = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _process_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(worker: dramatiq.Worker, done: Any, jobs: int, client: redis.Redis) -> dict[str, float]:
    """Start the worker and wait until ``done``: seconds, process CPU and Redis CPU over that window."""
    redis0, cpu0 = _redis_cpu_s(client), _process_cpu_s()
    start = time.perf_counter()
    worker.start()
    _wait(done, jobs)
    elapsed = time.perf_counter() - start
    cpu, redis_cpu = _process_cpu_s() - cpu0, _redis_cpu_s(client) - redis0
    worker.stop()
    return {"seconds": elapsed, "cpu_s": cpu, "redis_cpu_s": redis_cpu}


def run_dramatiq(url: str, jobs: int, threads: int) -> dict[str, float]:
    broker = RedisBroker(url=url)
    dramatiq.set_broker(broker)
    actor = dramatiq.Actor(_noop, broker=broker, actor_name="noop", queue_name=QUEUE, priority=0, options={})
    for _ in range(jobs):
        actor.send()
    client = redis.Redis.from_url(url)
    worker = dramatiq.Worker(broker, worker_threads=threads)
    # Acked messages leave the .msgs hash: empty means every message was processed and acked.
    return _timed(worker, lambda: client.hlen(keys.dramatiq_messages_key(QUEUE)) == 0, jobs, client)


def run_facequeue(url: str, jobs: int, threads: int) -> dict[str, float]:
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
    return _timed(worker, lambda: registry.client.zcard(completed) == jobs, jobs, redis.Redis.from_url(url))


#: Seconds between two latency samples: past the idle backoff of both brokers
#: (Dramatiq's grows to its 1 s worker timeout; facequeue's stops at FQ_WORKER_IDLE_POLL_MS).
IDLE_GAP_S = (0.6, 1.2)
_started = threading.Event()
_started_at: list[float] = []


def _mark() -> None:
    """The latency actor's body: when it began."""
    _started_at.append(time.perf_counter())
    _started.set()


def _latencies(send: Any, samples: int) -> list[float]:
    out = []
    for _ in range(samples):
        time.sleep(random.uniform(*IDLE_GAP_S))
        _started.clear()
        t0 = time.perf_counter()
        send()
        if not _started.wait(30):
            raise SystemExit("a latency job never started")
        out.append((_started_at[-1] - t0) * 1000)
    return out


def latency(side: str, url: str, samples: int) -> list[float]:
    if side == "dramatiq":
        broker: Any = RedisBroker(url=url)
        dramatiq.set_broker(broker)
        actor = dramatiq.Actor(
            _mark, broker=broker, actor_name="noop", queue_name=QUEUE, priority=0, options={}
        )
        send: Any = actor.send
    else:
        from services.worker.wiring import build_broker
        from shared.registry import Registry
        from shared.submit import submit

        # "facequeue-poll10": the same with FQ_WORKER_IDLE_POLL_MS=10 (the idle poll is the bound).
        poll_ms = 10 if side.endswith("-poll10") else Settings().worker_idle_poll_ms
        settings = Settings(redis_url=url, worker_threads=1, log_level="warning", worker_idle_poll_ms=poll_ms)
        broker = build_broker(settings, exporter=False)
        dramatiq.set_broker(broker)
        dramatiq.Actor(_mark, broker=broker, actor_name="noop", queue_name=QUEUE, priority=0, options={})
        registry = Registry(settings)

        def send() -> None:
            submit(registry, "noop")

    worker = dramatiq.Worker(broker, worker_threads=1)
    worker.start()
    try:
        return _latencies(send, samples)
    finally:
        worker.stop()


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.WARNING)
    redis.Redis.from_url(argv[1]).flushall()
    if argv[0].startswith("latency-"):
        side = argv[0].removeprefix("latency-")
        print(json.dumps({"side": side, "latencies_ms": latency(side, argv[1], int(argv[2]))}))
        return
    side, url, jobs, threads = argv[0], argv[1], int(argv[2]), int(argv[3])
    figures = {"dramatiq": run_dramatiq, "facequeue": run_facequeue}[side](url, jobs, threads)
    print(json.dumps({"side": side, "jobs": jobs, **figures}))


if __name__ == "__main__":
    main(sys.argv[1:])
