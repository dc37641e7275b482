"""Connected clients: each has a bounded queue the fan-out fills and its handler drains."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field

from services.stream.frames import CONTROL_TYPES, Frame
from shared.metrics import StreamMetrics

#: Put on a client's queue to make its handler send a reset and a fresh snapshot.
RESNAPSHOT = "resnapshot"


@dataclass(eq=False)
class Client:
    """One SSE or WebSocket connection."""

    transport: str
    topics: frozenset[str]
    queue_filter: str | None
    buffer: int
    queue: asyncio.Queue[Frame | str] = field(init=False)
    #: Why it was closed by the gateway (slow, drain), if it was.
    closed_reason: str | None = None
    #: The process's snapshot slots (set by Clients.add): a reconnect storm queues there
    #: instead of flooding Redis.
    snapshot_slots: asyncio.Semaphore = field(init=False)
    #: The handler's task, cancelled to close the connection.
    task: asyncio.Task[object] | None = None
    #: Waiting for a snapshot slot: every frame offered meanwhile is older than the snapshot
    #: it will get, so none is queued (a connection storm while jobs flow used to fill these
    #: queues and drop the waiting clients as slow; issue 9, bench/redis_load.py).
    awaiting_snapshot: bool = False

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(self.buffer)

    def wants(self, frame: Frame) -> bool:
        if frame.type not in CONTROL_TYPES and frame.topic not in self.topics:
            return False
        return self.queue_filter is None or frame.queue is None or frame.queue == self.queue_filter

    def close(self, reason: str) -> None:
        """End the connection from the gateway's side; the client resumes by Last-Event-ID."""
        if self.closed_reason is None:
            self.closed_reason = reason
            if self.task is not None:
                self.task.cancel()


class Clients:
    """Every connected client of this process."""

    #: Snapshots built at once by this process.
    SNAPSHOT_CONCURRENCY = 16

    def __init__(self, metrics: StreamMetrics) -> None:
        self._clients: set[Client] = set()
        self.metrics = metrics
        self.snapshot_slots = asyncio.Semaphore(self.SNAPSHOT_CONCURRENCY)

    def __iter__(self) -> Iterator[Client]:
        return iter(list(self._clients))

    def __len__(self) -> int:
        return len(self._clients)

    def add(self, client: Client) -> None:
        client.snapshot_slots = self.snapshot_slots
        self._clients.add(client)
        self.metrics.connections.labels(client.transport).inc()
        self.metrics.clients.labels(client.transport).inc()

    def remove(self, client: Client, reason: str) -> None:
        if client in self._clients:
            self._clients.discard(client)
            self.metrics.clients.labels(client.transport).dec()
            self.metrics.disconnects.labels(client.closed_reason or reason).inc()

    def offer(self, client: Client, item: Frame | str) -> None:
        """Queue without waiting; a client whose queue is full is dropped, never waited for."""
        if client.closed_reason is not None or client.awaiting_snapshot:
            return
        try:
            client.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.metrics.slow_drops.inc()
            client.close("slow")

    def broadcast(self, frame: Frame) -> None:
        # The hot path: no copy of the set; offer() never adds or removes clients
        # (a dropped client leaves in its own handler, later).
        for client in self._clients:
            if client.wants(frame):
                self.offer(client, frame)
