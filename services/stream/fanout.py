"""The gateway's one Redis subscription, read by one task that never waits on a client.

Each message is decoded once into a :class:`Frame` and offered to every client
that wants it. Sequence numbers are checked on the way: a gap (messages lost
while the subscription reconnected) is healed from ``fq:events``; a sequence
that went backwards (Redis lost its data) resets every client.

A Sentinel failover can lose the primary's last events and then reuse their
numbers for new ones (issue 17), so a seq alone does not say which event it is:
on every resubscription the stream entry of the last delivered event is looked
up by its stream id (part of every envelope); when it is gone, the numbering
belongs to another history (an epoch) and every client is reset.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable

import redis
import redis.asyncio

from services.stream.clients import RESNAPSHOT, Clients
from services.stream.frames import Frame, from_published
from services.stream.replay import read_after
from services.stream.tracing import DeliveryTraces
from shared import keys, tracing
from shared.events import EventType
from shared.logging import get_logger
from shared.metrics import StreamMetrics

log = get_logger(__name__)

#: Longest wait (s) between two attempts to resubscribe.
MAX_BACKOFF_S = 2.0


#: What precedes the stream id in a published envelope (``{"v":1,"seq":N,"id":"<id>",...}``).
_ID_MARKER = '"id":"'


def stream_id(payload: str) -> str | None:
    """The ``fq:events`` entry id an envelope carries, found without decoding it again."""
    at = payload.find(_ID_MARKER)
    if at < 0:
        return None
    start = at + len(_ID_MARKER)
    return payload[start : payload.find('"', start)]


def _revokes(payload: str) -> bool:
    """Whether an ``admin`` event revoked a key or ended sessions."""
    action = json.loads(payload).get("data", {}).get("action")
    return action in ("revoke_key", "end_sessions")


class Fanout:
    """Reads ``queue:updates`` and feeds the clients' queues."""

    def __init__(
        self, client: redis.asyncio.Redis, clients: Clients, metrics: StreamMetrics, limit: int
    ) -> None:
        self.redis = client
        self.clients = clients
        self.metrics = metrics
        #: Most events healed from the stream at once (they are held in memory) before giving
        #: up and resetting clients.
        self.limit = limit
        #: Set when job counts may have changed (the stats ticker's cue).
        self.dirty = asyncio.Event()
        self.subscribed = asyncio.Event()
        #: Stream id of the last event offered to clients (its identity across failovers).
        self.last_stream_id: str | None = None
        #: Delivery spans of job events, only when tracing is on (services/stream/tracing.py).
        self.traces = DeliveryTraces(client) if tracing.enabled() else None
        #: Called when an ``admin`` event revoked a key or ended sessions (issue 22: the
        #: credential watch then closes their streams at once, not at its next tick).
        self.on_revocation: Callable[[], None] | None = None

    @property
    def last_seq(self) -> int:
        """Seq of the last event offered to clients (kept by them: it gates their going live)."""
        return self.clients.last_seq

    @last_seq.setter
    def last_seq(self, seq: int) -> None:
        self.clients.last_seq = seq

    async def run(self) -> None:
        attempt = 0
        while True:
            try:
                await self._subscribe_and_read()
            except (redis.RedisError, OSError) as exc:
                self.subscribed.clear()
                self.metrics.redis_reconnects.inc()
                attempt += 1
                delay = min(MAX_BACKOFF_S, 0.05 * 2**attempt) * random.uniform(0.5, 1.0)
                log.warning("subscription lost; resubscribing", error=str(exc), delay_s=round(delay, 2))
                await asyncio.sleep(delay)
            else:
                attempt = 0

    async def _subscribe_and_read(self) -> None:
        pubsub = self.redis.pubsub()
        try:
            await pubsub.subscribe(keys.UPDATES_CHANNEL)
            connection = pubsub.connection
            assert connection is not None
            # redis-py's retry reconnects and resubscribes by itself (to a new primary after a
            # failover): heal then too, not only when an error reaches run().
            connection.register_connect_callback(self._reconnected)
            try:
                # Whatever was published while we were not subscribed comes from the stream.
                await self.heal(first=self.last_seq == 0)
                self.subscribed.set()
                async for message in pubsub.listen():
                    if message["type"] == "message":
                        await self.on_message(message["data"])
            finally:
                connection.deregister_connect_callback(self._reconnected)
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _reconnected(self, connection: object) -> None:
        """Called by redis-py once the subscription is back on a (maybe new) primary."""
        self.metrics.redis_reconnects.inc()
        log.warning("subscription reconnected; healing from the stream")
        await self.heal()

    async def on_message(self, payload: str) -> None:
        frame = from_published(payload)
        assert frame.seq is not None
        self.metrics.received.labels(frame.type).inc()
        if frame.seq == self.last_seq + 1:
            self.deliver(frame)
        elif frame.seq > self.last_seq + 1:
            await self.heal()
            if frame.seq > self.last_seq:  # not already among the healed events
                self.deliver(frame)
        elif int(await self.redis.get(keys.EVENTS_SEQ) or 0) < self.last_seq:
            # The sequence restarted: Redis lost its data. Everyone starts over.
            self.reset_all(frame.seq - 1)
            self.deliver(frame)
        # else: a duplicate of an event already healed from the stream.

    def deliver(self, frame: Frame) -> None:
        assert frame.seq is not None
        self.last_seq = frame.seq
        self.last_stream_id = stream_id(frame.payload)
        if frame.type in (EventType.JOB, EventType.PAUSE):
            self.dirty.set()
        elif frame.type == "admin" and self.on_revocation is not None and _revokes(frame.payload):
            self.on_revocation()
        self.clients.broadcast(frame)
        if self.traces is not None:
            self.traces.delivered(frame, len(self.clients))

    async def heal(self, *, first: bool = False) -> None:
        """Deliver what the stream holds after ``last_seq``; reset clients if it is gone."""
        current = int(await self.redis.get(keys.EVENTS_SEQ) or 0)
        if first:
            self.last_seq = current
            return
        if not await self.same_history():
            self.metrics.heals.labels("reset").inc()
            log.warning(
                "the last delivered event is not in the stream (failover); resetting clients",
                last_seq=self.last_seq,
                now=current,
            )
            self.reset_all(current)
            return
        if current == self.last_seq:
            return
        missed = await read_after(self.redis, self.last_seq, self.limit)
        if missed is None:
            self.metrics.heals.labels("reset").inc()
            log.warning(
                "events lost beyond the stream; resetting clients", last_seq=self.last_seq, now=current
            )
            self.reset_all(current)
            return
        self.metrics.heals.labels("replayed").inc()
        for frame in missed:
            self.deliver(frame)

    async def same_history(self) -> bool:
        """Whether the stream still holds the last delivered event under its seq (one XRANGE by id)."""
        if self.last_stream_id is None:
            return True
        entries: list[tuple[str, dict[str, str]]] = await self.redis.xrange(  # type: ignore[assignment]
            keys.EVENTS_STREAM, min=self.last_stream_id, max=self.last_stream_id, count=1
        )
        return bool(entries) and int(entries[0][1].get("seq", -1)) == self.last_seq

    def reset_all(self, seq: int) -> None:
        self.last_seq = seq
        self.last_stream_id = None
        self.dirty.set()
        for client in self.clients:
            self.clients.offer(client, RESNAPSHOT)
