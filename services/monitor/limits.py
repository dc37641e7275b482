"""The monitor's export of per-queue limits and their use (issue 21), read from Redis each tick.

Every monitor replica exports the same values (they are read, not counted here),
like the queue-depth gauges.
"""

from __future__ import annotations

import contextlib

from shared.limits import read_usage
from shared.metrics import MonitorMetrics
from shared.registry import AsyncRegistry

#: Label values of the two limits.
KINDS = ("concurrency", "rate")


async def export(registry: AsyncRegistry, metrics: MonitorMetrics, queues: list[str]) -> None:
    """Set each queue's limit gauges; a queue without a limit has none of its series."""
    for queue in queues:
        usage = await read_usage(registry, queue)
        values = {
            "concurrency": (usage.limits.concurrency, usage.in_use),
            "rate": (usage.limits.rate_limit, usage.in_window),
        }
        for kind, (limit, used) in values.items():
            if limit is None:
                for gauge in (metrics.limit, metrics.limit_used):
                    with contextlib.suppress(KeyError):  # never set, or already removed
                        gauge.remove(queue, kind)
            else:
                metrics.limit.labels(queue, kind).set(limit)
                metrics.limit_used.labels(queue, kind).set(used)
        metrics.limited_wait.set((queue,), usage.limited_wait_ms / 1000)
