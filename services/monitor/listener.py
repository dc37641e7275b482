"""The monitor's one subscription: worker membership changes and newly delayed jobs."""

from __future__ import annotations

import asyncio

import redis
import redis.asyncio

from services.monitor.scheduler import Scheduler
from services.monitor.tick import Monitor
from shared import keys
from shared.logging import get_logger

log = get_logger(__name__)

#: Seconds before resubscribing after the connection to Redis is lost.
RESUBSCRIBE_DELAY_S = 1.0
#: Substring of a job event moving a job to delayed (cheaper than decoding every event).
_TO_DELAYED = '"to":"delayed"'


class Listener:
    """Wakes the worker announcer and the scheduler; a missed message only delays them to the next tick."""

    def __init__(self, client: redis.asyncio.Redis, monitor: Monitor, scheduler: Scheduler) -> None:
        self.client = client
        self.monitor = monitor
        self.scheduler = scheduler

    async def run(self) -> None:
        while True:
            try:
                await self._listen()
            except (redis.RedisError, OSError) as exc:
                log.warning("monitor subscription lost", error=str(exc))
                # The tick heals whatever was missed meanwhile.
                self.monitor.workers_changed.set()
                await asyncio.sleep(RESUBSCRIBE_DELAY_S)

    async def _listen(self) -> None:
        pubsub = self.client.pubsub()
        try:
            await pubsub.subscribe(keys.WORKERS_CHANGED_CHANNEL, keys.UPDATES_CHANNEL)
            async for message in pubsub.listen():
                if message["type"] != "message":
                    continue
                if message["channel"] == keys.WORKERS_CHANGED_CHANNEL:
                    self.monitor.workers_changed.set()
                elif _TO_DELAYED in message["data"]:
                    self.scheduler.wake.set()
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
