"""The worker list: every registered worker, classified by heartbeat age (monitor events, API).

``Worker`` is the one description of a worker's public record: the monitor publishes it in
``workers`` events, the gateway puts it in snapshots, and the API's model is derived from it.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

import redis.asyncio

from shared import keys
from shared.config import Settings

#: Heartbeats a worker may miss before it counts as stale (the issue: "after 2 missed beats").
STALE_AFTER_MISSED_BEATS = 2


class WorkerStatus(enum.StrEnum):
    """A worker's liveness, from its heartbeat's age."""

    #: Beating on time.
    ALIVE = "alive"
    #: Missed two beats: maybe busy, maybe dying; its jobs are left alone.
    STALE = "stale"
    #: No beat for ``worker_dead_s`` (or reaped): its jobs were given back.
    DEAD = "dead"


@dataclasses.dataclass(frozen=True, slots=True)
class Worker:
    """One worker process group's public record."""

    id: str
    host: str
    pid: int
    queues: list[str]
    processes: int
    threads: int
    #: Start time, Unix ms on the Redis clock.
    started_ms: int
    uptime_s: float
    current_jobs: list[str]
    #: Jobs running now.
    active: int
    processed: int
    failed: int
    last_beat_ms: int
    beat_age_s: float
    status: WorkerStatus
    #: When it was marked dead (Unix ms), else None.
    dead_ms: int | None
    #: Asked to stop: finishing its jobs, fetching no more.
    draining: bool

    #: Fields that change with every beat (not a change worth announcing).
    BEAT_FIELDS = frozenset({"last_beat_ms", "beat_age_s", "uptime_s"})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def without_beat(self) -> dict[str, Any]:
        return {k: v for k, v in self.to_dict().items() if k not in self.BEAT_FIELDS}


def classify(fields: dict[str, str], now_ms: int, settings: Settings) -> Worker:
    """One worker's public record from its ``fq:worker:<id>`` hash, with its status."""
    last_beat = int(fields.get("last_beat_ms") or 0)
    age_ms = max(0, now_ms - last_beat)
    if fields.get("status") == "dead" or age_ms >= settings.worker_dead_s * 1000:
        status = WorkerStatus.DEAD
    elif age_ms > STALE_AFTER_MISSED_BEATS * settings.heartbeat_interval_s * 1000:
        status = WorkerStatus.STALE
    else:
        status = WorkerStatus.ALIVE
    started = int(fields.get("started_ms") or 0)
    return Worker(
        id=fields.get("id", ""),
        host=fields.get("host", ""),
        pid=int(fields.get("pid") or 0),
        queues=[q for q in fields.get("queues", "").split(",") if q],
        processes=int(fields.get("processes") or 0),
        threads=int(fields.get("threads") or 0),
        started_ms=started,
        uptime_s=round(max(0, now_ms - started) / 1000, 1) if started else 0,
        current_jobs=[j for j in fields.get("current_jobs", "").split(",") if j],
        active=int(fields.get("active") or 0),
        processed=int(fields.get("processed") or 0),
        failed=int(fields.get("failed") or 0),
        last_beat_ms=last_beat,
        beat_age_s=round(age_ms / 1000, 1),
        status=status,
        dead_ms=int(fields["dead_ms"]) if fields.get("dead_ms") else None,
        draining=fields.get("stop_requested") == "1",
    )


def count_by_status(workers: Iterable[Worker]) -> dict[WorkerStatus, int]:
    """How many workers are alive, stale and dead (every status present, zeros included)."""
    counts = Counter(w.status for w in workers)
    return {status: counts[status] for status in WorkerStatus}


async def read_workers(client: redis.asyncio.Redis, now_ms: int, settings: Settings) -> list[Worker]:
    """Live and recently dead workers, live first, each classified."""
    live: list[str] = await client.zrange(keys.WORKERS, 0, -1)  # type: ignore[assignment]
    dead: list[str] = await client.zrange(keys.WORKERS_DEAD, 0, -1)  # type: ignore[assignment]
    ids = live + [w for w in dead if w not in set(live)]
    async with client.pipeline(transaction=False) as pipe:
        for worker_id in ids:
            pipe.hgetall(keys.worker_key(worker_id))
        hashes: list[dict[str, str]] = await pipe.execute()
    return [classify(h, now_ms, settings) for h in hashes if h]


def encode(workers: Iterable[Worker]) -> str:
    """The ``workers`` event's data: the records as JSON."""
    return json.dumps([w.to_dict() for w in workers], separators=(",", ":"))
