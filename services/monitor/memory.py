"""The monitor's memory duties: keep the event stream within its age, and report Redis memory.

``fq:events`` is capped by length on every XADD; by age it is trimmed here (XTRIM
MINID, approximate: whole macro-nodes, so cheap). The gauges say how full Redis
is and what facequeue's own data costs (sampled bytes per job record and per
event), so alerts fire before noeviction makes Redis refuse writes.
"""

from __future__ import annotations

import redis.asyncio

from shared import keys
from shared.config import Settings
from shared.metrics import MonitorMetrics

#: Records sampled (MEMORY USAGE) per tick for the bytes-per-job gauge.
SAMPLED_JOBS = 5


async def trim_events(client: redis.asyncio.Redis, settings: Settings, now_ms: int) -> int:
    """Drop events older than ``events_max_age_s``; returns how many went."""
    oldest_kept_ms = now_ms - int(settings.events_max_age_s * 1000)
    removed: int = await client.xtrim(
        keys.EVENTS_STREAM, minid=f"{max(0, oldest_kept_ms)}-0", approximate=True
    )
    return removed


async def export_memory(client: redis.asyncio.Redis, metrics: MonitorMetrics) -> None:
    info = await client.info("memory")
    metrics.redis_memory.labels("used").set(int(info.get("used_memory", 0)))
    metrics.redis_memory.labels("max").set(int(info.get("maxmemory", 0)))
    jobs: int = await client.zcard(keys.JOBS_INDEX)
    events: int = await client.xlen(keys.EVENTS_STREAM)
    metrics.items.labels("job").set(jobs)
    metrics.items.labels("event").set(events)
    sampled: list[str] = await client.zrandmember(keys.JOBS_INDEX, SAMPLED_JOBS) or []  # type: ignore[assignment]
    sizes = [await client.memory_usage(keys.job_key(job_id)) for job_id in sampled]
    known = [size for size in sizes if size]
    if known:
        metrics.item_bytes.labels("job").set(sum(known) / len(known))
    if events:
        stream_bytes = await client.memory_usage(keys.EVENTS_STREAM, samples=5) or 0
        metrics.item_bytes.labels("event").set(stream_bytes / events)
