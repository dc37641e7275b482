"""The monitor's tick: dispatch, reap dead workers, export queue health, announce workers, sample history."""

from __future__ import annotations

import asyncio
import json
import math

import redis

from services.monitor import limits, memory, retention
from services.monitor.schedules import ScheduleFirer
from shared import catalog, history, keys, reads, transitions, worker_calls
from shared.config import Settings
from shared.errors import FacequeueError
from shared.history import HISTORY_LENGTH, Sample, minute_of
from shared.logging import get_logger
from shared.metrics import MonitorMetrics
from shared.outage import ReapGrace
from shared.reads import QueueHealth
from shared.registry import AsyncRegistry
from shared.workers import Worker, WorkerStatus, count_by_status, encode, read_workers

log = get_logger(__name__)

#: Worker fields that change with every beat: a list differing only in them is not announced.


class Monitor:
    """Every duty of one monitor replica; each is an idempotent script or deduplicated write."""

    def __init__(self, settings: Settings, registry: AsyncRegistry, metrics: MonitorMetrics) -> None:
        self.settings = settings
        self.registry = registry
        self.metrics = metrics
        #: Set to publish the worker list now rather than at the next tick.
        self.workers_changed = asyncio.Event()
        self.grace = ReapGrace(settings.worker_dead_s)
        #: The last published worker list without its beat times, and when it was published.
        self._announced = ""
        self._announced_ms = 0
        #: Fires due schedules (issue 21).
        self.schedules = ScheduleFirer(registry, metrics)

    async def run(self) -> None:
        """Tick every ``monitor_interval_s``; a failed tick (Redis down) is retried next time."""
        while True:
            try:
                await self.tick()
                self.metrics.ticks.inc()
            except (FacequeueError, redis.RedisError) as exc:
                self.grace.failed()
                self.metrics.tick_errors.inc()
                log.warning("monitor tick failed", error=str(exc))
            await asyncio.sleep(self.settings.monitor_interval_s)

    async def run_worker_announcer(self) -> None:
        """Publish the worker list at once when a worker joins, leaves or dies."""
        while True:
            await self.workers_changed.wait()
            await asyncio.sleep(0.05)  # coalesce a burst (a group of processes starting)
            self.workers_changed.clear()
            try:
                await self.announce_workers(await self.registry.now_ms(), reason="change")
            except (FacequeueError, redis.RedisError) as exc:
                log.warning("workers event failed", error=str(exc))

    async def tick(self) -> None:
        """One pass over every duty; a queue whose keys Redis refuses is skipped, not the tick.

        A refused script (``redis.ResponseError``: WRONGTYPE from a key of the wrong
        type under a queue's name) concerns that queue only; the others are still
        dispatched, reaped, exported and sampled (issue 16). Connection errors still
        fail the whole tick: then every queue is out of reach.
        """
        now_ms = await self.registry.now_ms()
        self.grace.answered()
        queues = await self.dispatch(await self.queues())
        await self.schedules.fire_due(now_ms)  # before the health read, which then counts its jobs
        # Read before reaping, so a reap (whose script could fail halfway through its
        # queues, leaving what it wrote) only ever sees queues Redis can read.
        health = await self.health(queues)
        if self.grace.may_reap() and await self.reap(list(health), now_ms):
            health = await self.health(list(health))  # the reaped jobs moved
        self.export_health(health, now_ms)
        await self.announce_workers(now_ms, reason="tick")
        await self.sample_history(health, now_ms)
        await self.chart_points(list(health))
        await self.sweep_search_index()
        await retention.enforce(self.registry, self.metrics, list(health), now_ms)
        await memory.trim_events(self.registry.client, self.settings, now_ms)
        await memory.export_memory(self.registry.client, self.metrics)
        await limits.export(self.registry, self.metrics, list(health))

    async def queues(self) -> list[str]:
        return sorted(set(await self.registry.queues()) | set(catalog.queues()))

    async def dispatch(self, queues: list[str]) -> list[str]:
        """Release due delayed jobs and keep each Dramatiq list at its low-water mark.

        Returns the queues Redis accepted, which the rest of the tick goes on with.
        """
        released = 0
        usable = []
        for queue in queues:
            try:
                out = await self.registry.run(transitions.dispatch(queue, self.settings.dispatch_low_water))
            except redis.ResponseError as exc:
                self.queue_failed(queue, "dispatch", exc)
                continue
            released += out.released
            usable.append(queue)
        self.metrics.released.inc(released)
        return usable

    async def reap(self, queues: list[str], now_ms: int) -> bool:
        """Recover dead workers' jobs; True when some were. A refused reap is retried next tick."""
        try:
            reaped = await self.registry.reap_dead(queues, now_ms)
        except redis.ResponseError as exc:
            self.metrics.tick_errors.inc()
            log.warning("reaping failed; retried next tick", error=str(exc), queues=queues)
            return False
        for worker_id, requeued in reaped.items():
            log.warning("dead worker reaped", dead_worker=worker_id, requeued=requeued)
            self.metrics.reaped.inc()
            self.metrics.requeued.inc(requeued)
        return bool(reaped)

    async def health(self, queues: list[str]) -> dict[str, QueueHealth]:
        """Every queue's health in one call; queue by queue, skipping refused ones, if that fails."""
        try:
            return await self.registry.run(reads.queue_health(queues))
        except redis.ResponseError:
            pass
        health: dict[str, QueueHealth] = {}
        for queue in queues:
            try:
                one = await self.registry.run(reads.queue_health([queue]))
                health[queue] = one[queue]
            except redis.ResponseError as exc:
                self.queue_failed(queue, "health", exc)
        return health

    def queue_failed(self, queue: str, duty: str, exc: redis.ResponseError) -> None:
        self.metrics.tick_errors.inc()
        log.warning("queue skipped this tick", queue=queue, duty=duty, error=str(exc))

    def export_health(self, health: dict[str, QueueHealth], now_ms: int) -> None:
        m = self.metrics
        for queue, h in health.items():
            for state, count in h.counts.items():
                m.jobs.labels(queue, state).set(count)
            m.oldest_waiting.labels(queue).set(h.oldest_waiting_s(now_ms) or 0.0)
            m.throughput.labels(queue, "completed").set(h.completed_per_s)
            m.throughput.labels(queue, "failed").set(h.failed_per_s)
            m.drain.labels(queue).set(drain_seconds(h.counts["waiting"], h.completed_per_s))

    async def announce_workers(self, now_ms: int, *, reason: str) -> list[Worker]:
        """Publish the worker list on a change; on a tick only when something but beat times
        changed, or ``workers_refresh_s`` passed (every event is kept in fq:events: a list of
        100 workers every 5 s would be most of it)."""
        workers = await read_workers(self.registry.client, now_ms, self.settings)
        signature = json.dumps([w.without_beat() for w in workers])
        stale = now_ms - self._announced_ms >= self.settings.workers_refresh_s * 1000
        if reason != "tick" or signature != self._announced or stale:
            await self.registry.run(worker_calls.publish_workers(encode(workers)))
            self.metrics.worker_events.labels(reason).inc()
            self._announced, self._announced_ms = signature, now_ms
        for status, n in count_by_status(workers).items():
            self.metrics.workers.labels(status).set(n)
        live = [w for w in workers if w.status is not WorkerStatus.DEAD]
        self.metrics.slots.labels("busy").set(sum(w.active for w in live))
        self.metrics.slots.labels("total").set(sum(w.threads for w in live))
        return workers

    async def sample_history(self, health: dict[str, QueueHealth], now_ms: int) -> bool:
        """Record this minute's sample unless a replica already did; True when written."""
        minute = minute_of(now_ms)
        sample = Sample(
            minute_ms=minute,
            counts={q: h.counts for q, h in health.items()},
            completed={q: h.completed_in_window for q, h in health.items()},
            failed={q: h.failed_in_window for q, h in health.items()},
        )
        try:
            await self.registry.client.xadd(
                keys.HISTORY_STREAM,
                sample.fields(),
                id=f"{minute}-0",
                maxlen=HISTORY_LENGTH,
                approximate=False,
            )
        except redis.ResponseError:
            return False  # this minute is already sampled (ids only grow)
        return True

    async def sweep_search_index(self) -> None:
        """Drop job search entries of jobs that are gone (issue 23), a bounded step per tick."""
        try:
            await self.registry.run(reads.sweep_search_index())
        except redis.ResponseError as exc:
            log.warning("search index sweep failed", error=str(exc))

    async def chart_points(self, queues: list[str]) -> None:
        """Each chart tier's closed buckets (issue 23); one failing tier does not stop the others."""
        for tier in history.TIERS:
            try:
                await self.registry.run(history.point_call(tier, queues))
            except redis.ResponseError as exc:
                log.warning("chart history failed", tier=tier.name, error=str(exc))


def drain_seconds(backlog: int, per_second: float) -> float:
    """Time to run ``backlog`` jobs at ``per_second``; +Inf when jobs wait and nothing finishes."""
    if backlog == 0:
        return 0.0
    if per_second <= 0:
        return math.inf
    return backlog / per_second
