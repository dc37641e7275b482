"""The monitor's retention duty: trim each queue's finished jobs to its policy, every tick.

Idempotent like every duty (replicas trimming at once remove each job once: the
script removes what it finds), bounded per tick (TRIM_CALLS_PER_TICK short calls
per queue and state), and a failure on one queue leaves the others trimmed.
"""

from __future__ import annotations

import redis

from shared.errors import FacequeueError
from shared.logging import get_logger
from shared.metrics import MonitorMetrics
from shared.registry import AsyncRegistry
from shared.retention import TRIM_BATCH, TRIM_CALLS_PER_TICK, read_policy, trim
from shared.states import JobState

log = get_logger(__name__)

#: The states retention applies to.
TRIMMED = (JobState.COMPLETED, JobState.FAILED)


async def enforce(registry: AsyncRegistry, metrics: MonitorMetrics, queues: list[str], now_ms: int) -> int:
    """Trim every queue to its policy; returns the jobs removed."""
    removed = 0
    for queue in queues:
        try:
            removed += await _enforce_queue(registry, metrics, queue, now_ms)
        except (FacequeueError, redis.RedisError) as exc:
            log.warning("retention failed for a queue", queue=queue, error=str(exc))
    return removed


async def _enforce_queue(registry: AsyncRegistry, metrics: MonitorMetrics, queue: str, now_ms: int) -> int:
    kept, _ = await read_policy(registry, queue)
    removed = 0
    for state in TRIMMED:
        count, age_s = kept.keep(state)
        cutoff_ms = now_ms - int(age_s * 1000)
        for _ in range(TRIM_CALLS_PER_TICK):
            n = await registry.run(trim(queue, state, count, cutoff_ms))
            if n:
                metrics.trimmed.labels(queue, state.value).inc(n)
                removed += n
            if n < TRIM_BATCH:
                break
    return removed
