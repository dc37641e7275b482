"""Connected clients, and the fan-out's writes to them.

A client starts in *queued* mode: while its handler sends the snapshot (or the
replay of what it missed) the fan-out puts frames on its bounded queue, and the
handler drains them in batches. Once the queue is empty the client goes *live*:
from then on the fan-out writes straight to its socket, with bytes encoded once
per group of clients that want the same frames. A reset puts it back in queued
mode for its new snapshot.

Frames broadcast within one turn of the event loop leave together: the flush
runs when the loop next gets round to it, so under load batches grow and
syscalls stay per batch, not per event.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from services.stream.frames import Frame
from services.stream.wire import Socket, Wire
from shared.events import CONTROL_TYPES, SCOPE_FREE_TYPES
from shared.metrics import StreamMetrics

#: Put on a client's queue to make its handler send a reset and a fresh snapshot.
RESNAPSHOT = "resnapshot"
#: Seconds a live client's socket may stay backed up before the client counts as stalled.
STALL_S = 10.0


class FrameQueue:
    """A client's bounded queue of frames: asyncio.Queue's contract for one consumer, at a
    fraction of its memory (issue 25: asyncio.Queue holds four deques, ~3 KiB, per client).

    The deque exists only while frames wait (a live client has none), and a future only
    while its handler waits for one.
    """

    __slots__ = ("_items", "_waiter", "maxsize")

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: deque[Frame | str] | None = None
        self._waiter: asyncio.Future[None] | None = None

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    def put_nowait(self, item: Frame | str) -> None:
        """Append, or raise asyncio.QueueFull at ``maxsize`` items."""
        items = self._items
        if items is None:
            items = self._items = deque()
        elif len(items) >= self.maxsize:
            raise asyncio.QueueFull
        items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def get_nowait(self) -> Frame | str:
        """The oldest item, or asyncio.QueueEmpty."""
        items = self._items
        if not items:
            raise asyncio.QueueEmpty
        item = items.popleft()
        if not items:
            self._items = None  # give the deque's block back: most clients are live, queueing nothing
        return item

    async def get(self) -> Frame | str:
        """The oldest item, waiting for one."""
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self.get_nowait()


@dataclass(frozen=True, slots=True)
class Interest:
    """What a client subscribed to; clients with equal interests want the same frames."""

    topics: frozenset[str]
    queue_filter: str | None
    #: The caller's queue scope (issue 22); None: every queue. Enforced here, server-side: a
    #: scoped client is never sent an event of another queue, nor one that names no queue.
    scope: frozenset[str] | None = None

    def wants(self, frame: Frame) -> bool:
        if frame.type not in CONTROL_TYPES and frame.topic not in self.topics:
            return False
        if self.scope is not None and frame.type not in SCOPE_FREE_TYPES and frame.queue not in self.scope:
            return False
        return self.queue_filter is None or frame.queue is None or frame.queue == self.queue_filter


class Owner(Protocol):
    """Who holds a connection once its handler has handed it over (handover.py)."""

    def close(self, reason: str) -> None:
        """End the connection (the client's cleanup follows when the transport reports it lost)."""

    def resume(self) -> None:
        """Serve the client's queue (a reset put it back in queued mode)."""


@dataclass(eq=False, slots=True)
class Client:
    """One SSE or WebSocket connection."""

    transport: str
    topics: frozenset[str]
    queue_filter: str | None
    buffer: int
    #: Queues the caller may see; None: every queue.
    scope: frozenset[str] | None = None
    queue: FrameQueue = field(init=False)
    interest: Interest = field(init=False)
    #: Why it was closed by the gateway (slow, drain), if it was.
    closed_reason: str | None = None
    #: The process's snapshot slots (set by Clients.add): a reconnect storm queues there
    #: instead of flooding Redis.
    snapshot_slots: asyncio.Semaphore = field(init=False)
    #: The task writing to it (a WebSocket's handler; an SSE client's Handover task while not
    #: live, None once it is), cancelled to close it.
    task: asyncio.Task[object] | None = None
    #: What holds the connection once its handler handed it over (an idle SSE client's).
    owner: Owner | None = None
    #: Waiting for a snapshot slot: every frame offered meanwhile is older than the snapshot
    #: it will get, so none is queued (a connection storm while jobs flow used to fill these
    #: queues and drop the waiting clients as slow; issue 9, bench/redis_load.py).
    awaiting_snapshot: bool = False
    #: Its socket, once live (the fan-out writes there instead of queueing).
    live: Socket | None = None
    #: Monotonic time its live socket was first seen backed up, if it still is.
    backed_up_since: float | None = None

    def __post_init__(self) -> None:
        self.queue = FrameQueue(self.buffer)
        self.interest = Interest(self.topics, self.queue_filter, self.scope)

    def wants(self, frame: Frame) -> bool:
        return self.interest.wants(frame)

    def close(self, reason: str) -> None:
        """End the connection from the gateway's side; the client resumes by Last-Event-ID."""
        if self.closed_reason is None:
            self.closed_reason = reason
            self.live = None
            if self.task is not None:
                self.task.cancel()
            if self.owner is not None:
                self.owner.close(reason)


class Clients:
    """Every connected client of this process, grouped by interest."""

    #: Snapshots built at once by this process.
    SNAPSHOT_CONCURRENCY = 16

    def __init__(self, metrics: StreamMetrics, max_buffered_bytes: int = 512 * 1024) -> None:
        self._groups: dict[Interest, set[Client]] = {}
        self._count = 0
        self.metrics = metrics
        #: Bytes a live client may leave in the gateway's buffer before it is dropped as slow.
        self.max_buffered_bytes = max_buffered_bytes
        self.snapshot_slots = asyncio.Semaphore(self.SNAPSHOT_CONCURRENCY)
        self._pending: list[Frame] = []
        #: Seq of the last frame broadcast (a client ahead of it is not live yet).
        self.last_seq = 0
        self._flush_scheduled = False

    def __iter__(self) -> Iterator[Client]:
        return iter([client for group in self._groups.values() for client in group])

    def __len__(self) -> int:
        return self._count

    def add(self, client: Client) -> None:
        client.snapshot_slots = self.snapshot_slots
        self._groups.setdefault(client.interest, set()).add(client)
        self._count += 1
        self.metrics.connections.labels(client.transport).inc()
        self.metrics.clients.labels(client.transport).inc()

    def remove(self, client: Client, reason: str) -> None:
        group = self._groups.get(client.interest)
        if group is None or client not in group:
            return
        group.discard(client)
        if not group:
            del self._groups[client.interest]
        self._count -= 1
        client.live = None
        self.metrics.clients.labels(client.transport).dec()
        self.metrics.disconnects.labels(client.closed_reason or reason).inc()

    def go_live(self, client: Client, socket: Socket, cursor: int) -> bool:
        """Switch a caught-up client to direct writes; False while it is not (yet).

        ``cursor`` is the last seq the client has (its snapshot may be ahead of this
        process's subscription): live writes never filter, so until the fan-out has
        passed it, the client stays queued and its handler skips what it already has.
        """
        self.flush()  # frames broadcast but not yet flushed belong on its queue, in order
        if not client.queue.empty() or client.closed_reason is not None or cursor > self.last_seq:
            return False
        client.live = socket
        client.backed_up_since = None
        return True

    def offer(self, client: Client, item: Frame | str) -> None:
        """Hand one client a frame (or RESNAPSHOT) without waiting, after what is pending."""
        if client.closed_reason is not None or client.awaiting_snapshot:
            return
        self.flush()
        if client.live is not None:
            if isinstance(item, Frame):
                self._write(client, client.live.wire.encode((item,)))
                self.count_sent((item,), 1)
                return
            client.live = None  # RESNAPSHOT: its handler takes over again
        self._enqueue(client, item)

    def broadcast(self, frame: Frame) -> None:
        """Send a frame to every client that wants it, at the next flush."""
        self._pending.append(frame)
        if frame.seq is not None:
            self.last_seq = frame.seq
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Write the pending frames: once per group of clients, encoded once per wire."""
        self._flush_scheduled = False
        frames, self._pending = self._pending, []
        if not frames:
            return
        for interest, group in self._groups.items():
            wanted = [frame for frame in frames if interest.wants(frame)]
            if not wanted:
                continue
            encoded: dict[Wire, bytes] = {}
            written = 0
            for client in group:
                socket = client.live
                if socket is None:
                    if client.closed_reason is None and not client.awaiting_snapshot:
                        for frame in wanted:
                            if not self._enqueue(client, frame):
                                break  # dropped as slow: the rest would only count it again
                    continue
                data = encoded.get(socket.wire)
                if data is None:
                    data = encoded[socket.wire] = socket.wire.encode(wanted)
                self._written(client, socket.write(data))
                written += 1
            if written:
                self.count_sent(wanted, written)

    def ping(self) -> int:
        """Write a keep-alive comment to every live SSE client; how many got one.

        One pass for the process instead of a sleeping task per connection (aiohttp-sse's
        own pinger: ~1 KiB per idle client; issue 25). Clients not live are being written
        to by their handler already.
        """
        pinged = 0
        for client in self:
            socket = client.live
            if socket is not None and (data := socket.wire.ping()) is not None:
                self._written(client, socket.write(data))
                pinged += 1
        return pinged

    def sweep(self) -> None:
        """Drop live clients whose sockets stayed backed up for STALL_S (a stalled reader)."""
        now = time.monotonic()
        for client in self:
            since = client.backed_up_since
            if client.live is not None and since is not None and now - since > STALL_S:
                if client.live.transport.get_write_buffer_size() > 0:
                    self._drop_slow(client)
                else:
                    client.backed_up_since = None

    def _write(self, client: Client, data: bytes) -> None:
        assert client.live is not None
        self._written(client, client.live.write(data))

    def _written(self, client: Client, buffered: int) -> None:
        if buffered <= 0:
            client.backed_up_since = None
        elif buffered > self.max_buffered_bytes:
            self._drop_slow(client)
        elif client.backed_up_since is None:
            client.backed_up_since = time.monotonic()

    def _enqueue(self, client: Client, item: Frame | str) -> bool:
        try:
            client.queue.put_nowait(item)
        except asyncio.QueueFull:
            self._drop_slow(client)
            return False
        if client.task is None and client.owner is not None:
            client.owner.resume()  # handed over, with no task to serve its queue: start one
        return True

    def _drop_slow(self, client: Client) -> None:
        self.metrics.slow_drops.inc()
        client.close("slow")

    def count_sent(self, frames: Sequence[Frame], clients: int) -> None:
        """Frames by type; lag once per write of a batch, from its oldest frame (the worst)."""
        for kind, count in Counter(frame.type for frame in frames).items():
            self.metrics.sent.labels(kind).inc(count * clients)
        self.metrics.lag.observe(max(0.0, time.time() - frames[0].ts))
