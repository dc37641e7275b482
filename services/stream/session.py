"""One client's session: snapshot or replay first, then its queued frames, in batches.

Registered before it reads the snapshot or the missed events, a client loses
nothing published meanwhile; frames the snapshot or replay already covered are
skipped by seq.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from services.stream.clients import RESNAPSHOT, Client
from services.stream.frames import Frame, gateway_frame
from services.stream.replay import ReplayGone, locate, pages
from services.stream.sinks import Sink
from services.stream.snapshot import build_snapshot
from services.stream.state import CLIENTS, STREAM_METRICS, STREAM_REGISTRY
from shared.events import GatewayType
from shared.metrics import StreamMetrics
from shared.registry import AsyncRegistry

#: Most frames written in one go.
MAX_BATCH = 256


async def serve_client(
    app: web.Application, client: Client, sink: Sink, last_id: int | None, *, until_live: bool = False
) -> int:
    """Snapshot (or replay), then queued frames until the queue is empty and the client goes live.

    ``until_live``: return (the cursor) once the client is live (an SSE client, whose
    connection's Handover needs no task while it is; handover.py); otherwise serve it until
    cancelled (WebSocket).
    """
    cursor = await begin(app[STREAM_REGISTRY], client, sink, last_id, app[STREAM_METRICS])
    return await follow(app, client, sink, cursor, until_live=until_live)


async def follow(app: web.Application, client: Client, sink: Sink, cursor: int, *, until_live: bool) -> int:
    """Send the client's queued frames in batches, skipping those at or before ``cursor``."""
    registry = app[STREAM_REGISTRY]
    clients = app[CLIENTS]
    while True:
        # Caught up: the fan-out writes from here on, and only a reset comes this way.
        if client.queue.empty() and clients.go_live(client, sink.socket, cursor) and until_live:
            return cursor
        # Everything already queued goes out in one write: one syscall per batch.
        items = [await client.queue.get()]
        while len(items) < MAX_BATCH and not client.queue.empty():
            items.append(client.queue.get_nowait())
        batch: list[Frame] = []
        for item in items:
            if item == RESNAPSHOT:
                client.live = None
                await sink.send(batch)
                batch = []
                cursor = await reset(registry, client, sink)
                continue
            assert isinstance(item, Frame)
            if item.seq is not None and item.seq <= cursor:
                continue  # already covered by the snapshot or the replay
            batch.append(item)
            if item.seq is not None:
                cursor = item.seq
        await sink.send(batch)


async def begin(
    registry: AsyncRegistry, client: Client, sink: Sink, last_id: int | None, metrics: StreamMetrics
) -> int:
    """Replay what a reconnecting client missed, or (first visit, or gone) a snapshot; returns the cursor."""
    if last_id is not None:
        cursor = await replay(registry, client, sink, last_id)
        if cursor is not None:
            metrics.resumes.labels("replayed").inc()
            return cursor
        metrics.resumes.labels("reset").inc()
        return await reset(registry, client, sink)
    return await snapshot(registry, client, sink)


@contextlib.asynccontextmanager
async def first_slot(client: Client) -> AsyncIterator[None]:
    """One of the process's snapshot slots, frames offered while waiting for it left out.

    Whatever the client then reads from Redis (its snapshot, or where its replay
    starts) is at least as new as every frame left out; frames offered from here
    on may be newer, so they are queued again.
    """
    client.awaiting_snapshot = True
    try:
        async with client.snapshot_slots:
            client.awaiting_snapshot = False
            yield
    finally:
        client.awaiting_snapshot = False


async def snapshot(registry: AsyncRegistry, client: Client, sink: Sink) -> int:
    async with first_slot(client):
        frame = await build_snapshot(
            registry, client.queue_filter, registry.settings.stream_snapshot_jobs, client.scope
        )
    await sink.send([frame])
    return frame.last_id


async def replay(registry: AsyncRegistry, client: Client, sink: Sink, last_id: int) -> int | None:
    """Send what the client missed, page by page; the cursor, or None when it must start over.

    Replays share the snapshot slots (a reconnect storm of replays queues like one
    of snapshots) and hold one only while reading a page from Redis, never while
    waiting on the client's socket. A client more than ``stream_replay_max_events``
    behind, or whose replay passes ``stream_replay_max_bytes``, gets a reset and a
    snapshot instead: bounded work and memory per connection (issue 16).
    """
    settings = registry.settings
    async with first_slot(client):
        position = await locate(registry.client, last_id, settings.stream_replay_max_events)
    if position is None:
        return None
    cursor, sent_bytes = last_id, 0
    async with contextlib.aclosing(pages(registry.client, position)) as reading:
        while True:
            try:
                async with client.snapshot_slots:
                    page = await anext(reading, None)
            except ReplayGone:
                return None
            if page is None:
                return cursor
            sent_bytes += sum(len(frame.payload) for frame in page)
            if sent_bytes > settings.stream_replay_max_bytes:
                return None
            await sink.send([frame for frame in page if client.wants(frame)])
            cursor = page[-1].last_id


async def reset(registry: AsyncRegistry, client: Client, sink: Sink) -> int:
    """What was missed is gone: say so, then start over from a snapshot."""
    await sink.send(
        [gateway_frame(GatewayType.RESET, {"reason": "events no longer available"}, 0, client.queue_filter)]
    )
    return await snapshot(registry, client, sink)
