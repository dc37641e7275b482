"""Failure groups as Prometheus series (issue 20), bounded: per queue, the ``top`` largest
groups by fingerprint and the rest summed as ``other``, so a flood of new causes cannot
grow the series without limit. Also exported: groups per queue and when the newest one was
first seen (the "new failure group" alert watches it rise).
"""

from __future__ import annotations

from shared import catalog, keys
from shared.metrics import OperationMetrics
from shared.registry import AsyncRegistry

#: Most groups of one queue read per export (the newest by last seen); older ones count as other.
READ_GROUPS = 1000


async def export(registry: AsyncRegistry, metrics: OperationMetrics, top: int) -> None:
    client = registry.client
    metrics.failure_group_jobs.clear()
    for queue in sorted(set(await registry.queues()) | set(catalog.queues())):
        fingerprints: list[str] = await client.zrevrange(keys.failure_groups_key(queue), 0, READ_GROUPS - 1)  # type: ignore[assignment]
        groups = await client.zcard(keys.failure_groups_key(queue))
        metrics.failure_groups.labels(queue).set(groups)
        if not fingerprints:
            metrics.failure_group_newest.labels(queue).set(0)
            continue
        async with client.pipeline(transaction=False) as pipe:
            for fp in fingerprints:
                pipe.hmget(keys.failure_group_key(queue, fp), "count", "first_ms")
            rows: list[list[str | None]] = await pipe.execute()
        sized = sorted(
            ((int(row[0] or 0), fp) for fp, row in zip(fingerprints, rows, strict=True)), reverse=True
        )
        for count, fp in sized[:top]:
            metrics.failure_group_jobs.labels(queue, fp).set(count)
        metrics.failure_group_jobs.labels(queue, "other").set(sum(count for count, _ in sized[top:]))
        newest = max(int(row[1] or 0) for row in rows)
        metrics.failure_group_newest.labels(queue).set(newest / 1000)
