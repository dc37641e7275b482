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


def _shown(queue: str, queue_filter: str | None, scope: frozenset[str] | None) -> bool:
    """Whether a client with this filter and scope is shown the queue's counts."""
    return (queue_filter is None or queue == queue_filter) and (scope is None or queue in scope)


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
        frames: dict[tuple[str | None, frozenset[str] | None], Frame] = {}
        for client in targets:
            key = (client.queue_filter, client.scope)
            if key not in frames:
                wanted = [q for q in base.counts if _shown(q, *key)]
                counts = {q: base.counts[q] for q in wanted}
                if client.queue_filter is not None and _shown(client.queue_filter, *key):
                    counts.setdefault(client.queue_filter, {})
                paused = [q for q in base.paused if _shown(q, *key)]
                data = {"counts": counts, "paused": paused}
                frames[key] = gateway_frame(GatewayType.STATS, data, last_seq, client.queue_filter)
            self.clients.offer(client, frames[key])
        return len(targets)
