"""The monitor's schedule firing: each due schedule fires once, whatever the number of replicas.

Every tick reads the schedules due at the Redis clock's ``now`` and runs one
schedule_fire.lua per firing; the script creates the job only while the schedule's
``next_ms`` still holds the fire time read here, so a replica that lost the race
changes nothing (issue 21). ``now_ms`` is a parameter: tests drive a simulated clock.
"""

from __future__ import annotations

import redis

from shared import keys
from shared.errors import FacequeueError
from shared.logging import get_logger
from shared.metrics import MonitorMetrics
from shared.registry import AsyncRegistry
from shared.schedules import FIRE_BATCH, Schedule, fire, plan, submission

log = get_logger(__name__)


class ScheduleFirer:
    """Fires what is due; one per monitor, called from its tick."""

    def __init__(self, registry: AsyncRegistry, metrics: MonitorMetrics | None = None) -> None:
        self.registry = registry
        self.metrics = metrics
        self.grace_ms = int(registry.settings.schedule_misfire_grace_s * 1000)

    async def fire_due(self, now_ms: int) -> list[str]:
        """Fire every schedule due at ``now_ms``; returns the ids of the jobs this call created."""
        client = self.registry.client
        names: list[str] = await client.zrangebyscore(  # type: ignore[assignment]
            keys.SCHEDULES, "-inf", now_ms, start=0, num=FIRE_BATCH
        )
        created = []
        for name in names:
            stored: dict[str, str] = await client.hgetall(keys.schedule_key(name))  # type: ignore[assignment]
            if not stored:
                continue
            try:
                job_id = await self.fire_one(Schedule.from_hash(stored), now_ms)
            except (FacequeueError, redis.ResponseError, ValueError, KeyError) as exc:
                # One broken schedule (its actor gone from the catalog...) must not stop the others.
                log.warning("schedule not fired", schedule=name, error=str(exc))
                continue
            if job_id:
                created.append(job_id)
        if self.metrics is not None:
            self.metrics.schedule_firings.inc(len(created))
        return created

    async def fire_one(self, schedule: Schedule, now_ms: int) -> str:
        firing = plan(schedule, now_ms, self.grace_ms)
        if firing is None:
            return ""
        job = submission(schedule, self.registry.settings)
        job_id: str = await self.registry.run(fire(schedule, firing, job))
        if job_id:
            log.info("schedule fired", schedule=schedule.name, job_id=job_id, missed=firing.missed)
        return job_id
