"""The monitor's schedule firing: each due schedule fires once, whatever the number of replicas.

Every tick reads the schedules due at the Redis clock's ``now`` and runs one
schedule_fire.lua per firing; the script creates the job only while the schedule's
``next_ms`` still holds the fire time read here, so a replica that lost the race
changes nothing (issue 21). ``now_ms`` is a parameter: tests drive a simulated clock.
"""

from __future__ import annotations

import redis

from shared import keys
from shared.cron import next_after
from shared.errors import FacequeueError, InvalidArguments, InvalidSchedule, UnknownActor
from shared.logging import get_logger
from shared.metrics import MonitorMetrics
from shared.registry import AsyncRegistry
from shared.schedules import FIRE_BATCH, Schedule, fire, plan, record_error, submission

#: Errors a schedule's firing meets again at every try: its actor left the catalog, its
#: arguments no longer bind, its cron or zone no longer reads, its record is incomplete.
PERMANENT: tuple[type[Exception], ...] = (
    UnknownActor,
    InvalidArguments,
    InvalidSchedule,
    ValueError,
    KeyError,
)

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
            except PERMANENT as exc:
                # It cannot fire now and will not by retrying: record why and move it on, so
                # broken schedules cannot fill the batch of due ones and hold the others back.
                await self.set_aside(name, stored, now_ms, exc)
                continue
            except (FacequeueError, redis.RedisError) as exc:  # Redis away: the next tick retries
                log.warning("schedule not fired", schedule=name, error=str(exc))
                continue
            if job_id:
                created.append(job_id)
        if self.metrics is not None:
            self.metrics.schedule_firings.inc(len(created))
        return created

    async def set_aside(self, name: str, stored: dict[str, str], now_ms: int, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"
        try:
            next_ms = next_after(stored["cron"], stored.get("timezone", "UTC"), now_ms)
        except PERMANENT:
            next_ms = 0  # no next time can be read: parked until the schedule is saved again
        expected = int(stored.get("next_ms") or 0)
        moved = await self.registry.run(record_error(name, expected, next_ms, error))
        if moved:
            log.warning("schedule cannot fire", schedule=name, error=error, next_ms=next_ms)

    async def fire_one(self, schedule: Schedule, now_ms: int) -> str:
        firing = plan(schedule, now_ms, self.grace_ms)
        if firing is None:
            return ""
        job = submission(schedule, self.registry.settings)
        job_id: str = await self.registry.run(fire(schedule, firing, job))
        if job_id:
            log.info("schedule fired", schedule=schedule.name, job_id=job_id, missed=firing.missed)
        return job_id
