"""The monitor's memory duties against a real redis-server: events trimmed by age, memory gauges."""

from __future__ import annotations

import dataclasses

import redis
from prometheus_client import CollectorRegistry

from devstack.localredis import DEFAULT_MAXMEMORY
from services.monitor.memory import export_memory, trim_events
from shared.config import Settings
from shared.metrics import MonitorMetrics
from shared.registry import AsyncRegistry, Registry
from shared.submit import submit


async def test_events_older_than_their_age_are_trimmed(
    settings: Settings, registry: Registry, raw: redis.Redis
) -> None:
    for _ in range(300):
        submit(registry, "noop")
    assert raw.xlen("fq:events") == 300
    areg = AsyncRegistry(dataclasses.replace(settings, events_max_age_s=3600))
    try:
        now_ms = await areg.now_ms()
        # Within the age nothing goes; an hour later (approximate MINID: whole nodes) most of them
        assert await trim_events(areg.client, areg.settings, now_ms) == 0
        removed = await trim_events(areg.client, areg.settings, now_ms + 3_601_000)
    finally:
        await areg.close()
    assert removed > 0 and raw.xlen("fq:events") == 300 - removed < 300


async def test_memory_gauges_report_the_budget_and_the_cost_of_jobs_and_events(
    settings: Settings, registry: Registry
) -> None:
    ids = [submit(registry, "sleep", [0.1]) for _ in range(20)]
    metrics = CollectorRegistry()
    areg = AsyncRegistry(settings)
    try:
        await export_memory(areg.client, MonitorMetrics(metrics))
    finally:
        await areg.close()

    def value(name: str, **labels: str) -> float:
        found = metrics.get_sample_value(name, labels)
        assert found is not None, (name, labels)
        return found

    assert value("facequeue_redis_memory_bytes", kind="used") > 0
    assert value("facequeue_redis_memory_bytes", kind="max") == 4 * 1024**3 == _bytes(DEFAULT_MAXMEMORY)
    assert value("facequeue_redis_items", item="job") == len(ids)
    assert value("facequeue_redis_items", item="event") == len(ids)
    assert 100 < value("facequeue_redis_item_bytes", item="job") < 10_000
    assert 10 < value("facequeue_redis_item_bytes", item="event") < 10_000


def _bytes(size: str) -> int:
    return int(size.removesuffix("gb")) * 1024**3
