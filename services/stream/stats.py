"""Coalesced ``stats`` frames: counts change on every transition, clients get at most one per interval.

Counts are read once per tick for all clients (one script call), and encoded
once per distinct queue filter.
"""

from __future__ import annotations

import asyncio

import redis

from services.stream.clients import Clients
from services.stream.fanout import Fanout
from services.stream.frames import Frame, gateway_frame
from services.stream.snapshot import queues_of
from shared import reads
from shared.errors import FacequeueError
from shared.events import GatewayType, Topic
from shared.logging import get_logger
from shared.registry import AsyncRegistry

log = get_logger(__name__)


class StatsTicker:
    """One ``run()`` coroutine: after a change, one stats frame per interval at most."""

    def __init__(self, registry: AsyncRegistry, clients: Clients, fanout: Fanout, interval_ms: int) -> None:
        self.registry = registry
        self.clients = clients
        self.fanout = fanout
        self.interval_s = interval_ms / 1000

    async def run(self) -> None:
        while True:
            await self.fanout.dirty.wait()
            self.fanout.dirty.clear()
            try:
                await self.tick()
            except (FacequeueError, redis.RedisError) as exc:
                log.warning("stats tick failed", error=str(exc))
            await asyncio.sleep(self.interval_s)

    async def tick(self) -> int:
        """Send current counts to every stats client; returns how many got them."""
        targets = [c for c in self.clients if Topic.STATS in c.topics]
        if not targets:
            return 0
        base = await self.registry.run(reads.counts_at(await queues_of(self.registry, None)))
        # Taken after the read, so ids never go backwards on a client's connection: every
        # frame up to it is already queued ahead of this one. Counts are at most one tick stale.
        last_seq = self.fanout.last_seq
        frames: dict[str | None, Frame] = {}
        for client in targets:
            key = client.queue_filter
            if key not in frames:
                counts = base.counts if key is None else {key: base.counts.get(key, {})}
                paused = base.paused if key is None else [q for q in base.paused if q == key]
                frames[key] = gateway_frame(
                    GatewayType.STATS, {"counts": counts, "paused": paused}, last_seq, key
                )
            self.clients.offer(client, frames[key])
        return len(targets)
