"""The monitor's tick: release due delayed jobs, reap dead workers, export queue depths."""

from __future__ import annotations

import asyncio
import contextlib

import redis
from prometheus_client import CollectorRegistry, Gauge

from shared import catalog, keys, transitions
from shared.config import Settings
from shared.errors import FacequeueError
from shared.logging import get_logger
from shared.registry import AsyncRegistry

log = get_logger(__name__)


class MonitorLoop:
    """One ``run()`` coroutine, ticking every ``heartbeat_interval_s``."""

    def __init__(self, settings: Settings, registry: AsyncRegistry, metrics: CollectorRegistry) -> None:
        self.settings = settings
        self.registry = registry
        self.depth = Gauge(
            "facequeue_queue_jobs", "Jobs per queue and state.", ["queue", "state"], registry=metrics
        )
        self.workers = Gauge(
            "facequeue_monitor_workers_alive", "Workers with a fresh heartbeat.", registry=metrics
        )
        self.ticks = Gauge(
            "facequeue_monitor_last_tick_seconds", "Unix time of the last tick.", registry=metrics
        )

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except (FacequeueError, redis.RedisError) as exc:
                # Redis down or restarting: keep ticking, /readyz reports it.
                log.warning("monitor tick failed", error=str(exc))
            await asyncio.sleep(self.settings.heartbeat_interval_s)

    async def tick(self) -> None:
        queues = sorted(set(await self.registry.queues()) | set(catalog.queues()))
        for queue in queues:
            # target 0: release due delayed jobs only; workers top up Dramatiq's list themselves.
            await self.registry.run(transitions.dispatch(queue, 0))
        now_ms = await self._redis_ms()
        for worker_id, requeued in (await self.registry.reap_dead(queues, now_ms)).items():
            log.warning("dead worker reaped", dead_worker=worker_id, requeued=requeued)
        dead_after_ms = int(self.settings.worker_dead_after_s * 1000)
        self.workers.set(await self.registry.client.zcount(keys.WORKERS, now_ms - dead_after_ms, "+inf"))
        for queue, per_state in (await self.registry.counts(queues)).items():
            for state, count in per_state.items():
                self.depth.labels(queue, state).set(count)
        self.ticks.set(now_ms / 1000)

    async def _redis_ms(self) -> int:
        seconds, micros = await self.registry.client.time()
        return int(seconds) * 1000 + int(micros) // 1000


async def start_loop(loop: MonitorLoop) -> asyncio.Task[None]:
    return asyncio.create_task(loop.run(), name="monitor-loop")


async def stop_task(task: asyncio.Task[None]) -> None:
    """Cancel until done: a client library may swallow one cancellation mid-call."""
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=1.0)
    with contextlib.suppress(asyncio.CancelledError):
        await task
