"""The worker list: every registered worker, classified by heartbeat age (monitor events, API)."""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio

from shared import keys
from shared.config import Settings

#: Heartbeats a worker may miss before it counts as stale (the issue: "after 2 missed beats").
STALE_AFTER_MISSED_BEATS = 2


def classify(fields: dict[str, str], now_ms: int, settings: Settings) -> dict[str, Any]:
    """One worker's public record, with ``status`` alive, stale or dead."""
    last_beat = int(fields.get("last_beat_ms") or 0)
    age_ms = max(0, now_ms - last_beat)
    if fields.get("status") == "dead" or age_ms >= settings.worker_dead_s * 1000:
        status = "dead"
    elif age_ms > STALE_AFTER_MISSED_BEATS * settings.heartbeat_interval_s * 1000:
        status = "stale"
    else:
        status = "alive"
    started = int(fields.get("started_ms") or 0)
    return {
        "id": fields.get("id", ""),
        "host": fields.get("host", ""),
        "pid": int(fields.get("pid") or 0),
        "queues": [q for q in fields.get("queues", "").split(",") if q],
        "processes": int(fields.get("processes") or 0),
        "threads": int(fields.get("threads") or 0),
        "started_ms": started,
        "uptime_s": round(max(0, now_ms - started) / 1000, 1) if started else 0,
        "current_jobs": [j for j in fields.get("current_jobs", "").split(",") if j],
        "active": int(fields.get("active") or 0),
        "processed": int(fields.get("processed") or 0),
        "failed": int(fields.get("failed") or 0),
        "last_beat_ms": last_beat,
        "beat_age_s": round(age_ms / 1000, 1),
        "status": status,
        "dead_ms": int(fields["dead_ms"]) if fields.get("dead_ms") else None,
        "draining": fields.get("stop_requested") == "1",
    }


async def read_workers(client: redis.asyncio.Redis, now_ms: int, settings: Settings) -> list[dict[str, Any]]:
    """Live and recently dead workers, live first, each classified."""
    live: list[str] = await client.zrange(keys.WORKERS, 0, -1)  # type: ignore[assignment]
    dead: list[str] = await client.zrange(keys.WORKERS_DEAD, 0, -1)  # type: ignore[assignment]
    ids = live + [w for w in dead if w not in set(live)]
    async with client.pipeline(transaction=False) as pipe:
        for worker_id in ids:
            pipe.hgetall(keys.worker_key(worker_id))
        hashes: list[dict[str, str]] = await pipe.execute()
    return [classify(h, now_ms, settings) for h in hashes if h]


def encode(workers: list[dict[str, Any]]) -> str:
    return json.dumps(workers, separators=(",", ":"))
