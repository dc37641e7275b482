"""Redis bytes per completed job and per event (issue 18's memory budget), on a private redis-server.

Baselines from the same server: a job against the plain Dramatiq message that would
carry the same call (what Dramatiq's Redis broker holds per queued message), an
event against its JSON payload's own length (what a stream entry costs beyond it).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from bench.report import Results, row
from devstack import localredis
from shared import keys, transitions
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.config import Settings
from shared.registry import Registry
from shared.submit import submit

#: The worker id the in-process runs are recorded under.
WORKER = "bench-memory"


def _used(client: redis.Redis) -> int:
    client.execute_command("MEMORY", "PURGE")
    return int(client.info("memory")["used_memory"])


def dramatiq_bytes_per_message(url: str, jobs: int) -> float:
    broker = RedisBroker(url=url)

    def sleep(seconds: float) -> None:
        """Never runs: only its messages are measured."""

    actor = dramatiq.actor(actor_name="sleep", queue_name=Q, broker=broker)(sleep)
    before = _used(broker.client)
    for _ in range(jobs):
        actor.send(0.1)
    used = _used(broker.client) - before
    broker.client.flushall()
    broker.close()
    return used / jobs


def facequeue_bytes(url: str, jobs: int) -> tuple[float, float, float]:
    """Bytes per completed job (record, index, state set) and per event, and the mean event payload."""
    registry = Registry(Settings(redis_url=url))
    client = redis.Redis.from_url(url)
    before = _used(client)
    for _ in range(jobs):
        job_id = submit(registry, "sleep", [0.1])
        registry.run(transitions.dispatch(Q, jobs + 1))
        assert registry.run(transitions.start(job_id, Q, 0, WORKER)) == "started"
        assert registry.run(transitions.complete(job_id, Q, 0, WORKER, "null"))
    client.delete(
        keys.dramatiq_queue_key(Q), keys.dramatiq_messages_key(Q)
    )  # Dramatiq's copies, never consumed here
    used = _used(client) - before
    events = int(client.xlen(keys.EVENTS_STREAM))
    stream_bytes = int(client.memory_usage(keys.EVENTS_STREAM, samples=0) or 0)
    sample: list[tuple[bytes, dict[bytes, bytes]]] = client.xrevrange(keys.EVENTS_STREAM, count=1000)  # type: ignore[assignment]
    payload = sum(len(fields[b"data"]) for _, fields in sample) / len(sample)
    registry.close()
    client.close()
    return (used - stream_bytes) / jobs, stream_bytes / events, payload


def main(jobs: int = 10_000) -> Results:
    with tempfile.TemporaryDirectory() as tmp, localredis.running(Path(tmp)) as url:
        message = dramatiq_bytes_per_message(url, jobs)
        job, event, payload = facequeue_bytes(url, jobs)
    print(f"{jobs} jobs: {job:.0f} B per completed job (a queued Dramatiq message: {message:.0f} B)")
    print(f"{event:.0f} B per event in fq:events (its JSON payload: {payload:.0f} B)")
    return {
        "redis_bytes_per_completed_job": row(job, "B", message, "a queued plain Dramatiq message"),
        "redis_bytes_per_event": row(event, "B", payload, "the event's JSON payload"),
    }
