"""Releases delayed jobs when they fall due, not only at the next tick.

Sleeps until the earliest eta of any queue (on the Redis clock), capped by the
tick interval, and wakes early when a job is delayed (the monitor's listener
sees its event), so a delayed job is released on time even with no worker fetching.
"""

from __future__ import annotations

import asyncio
import contextlib

import redis

from services.monitor.tick import Monitor
from shared import keys
from shared.errors import FacequeueError
from shared.logging import get_logger
from shared.states import JobState

log = get_logger(__name__)


class Scheduler:
    """One ``run()`` coroutine; ``wake`` is set when a new eta may be earlier."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor
        self.wake = asyncio.Event()

    async def run(self) -> None:
        while True:
            try:
                delay_s = await self.step()
            except (FacequeueError, redis.RedisError) as exc:
                log.warning("scheduler step failed", error=str(exc))
                delay_s = self.monitor.settings.monitor_interval_s
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=delay_s)

    async def step(self) -> float:
        """Release what is due; returns seconds until the next eta (at most one tick)."""
        queues = await self.monitor.queues()
        client = self.monitor.registry.client
        async with client.pipeline(transaction=False) as pipe:
            for queue in queues:
                pipe.zrange(keys.state_key(queue, JobState.DELAYED), 0, 0, withscores=True)
            heads: list[list[tuple[str, float]]] = await pipe.execute()
        now_ms = await self.monitor.registry.now_ms()
        due = [q for q, head in zip(queues, heads, strict=True) if head and head[0][1] <= now_ms]
        if due:
            await self.monitor.dispatch(due)
        etas = [head[0][1] for head in heads if head and head[0][1] > now_ms]
        cap = self.monitor.settings.monitor_interval_s
        return min([cap, *((eta - now_ms) / 1000 for eta in etas)]) if etas else cap
