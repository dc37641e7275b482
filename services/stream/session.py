"""One client's session: snapshot or replay first, then its queued frames, in batches.

Registered before it reads the snapshot or the missed events, a client loses
nothing published meanwhile; frames the snapshot or replay already covered are
skipped by seq.
"""

from __future__ import annotations

from aiohttp import web

from services.stream.clients import RESNAPSHOT, Client
from services.stream.frames import Frame, gateway_frame
from services.stream.replay import read_after
from services.stream.sinks import Sink
from services.stream.snapshot import build_snapshot
from services.stream.state import CLIENTS, STREAM_METRICS, STREAM_REGISTRY
from shared.metrics import StreamMetrics
from shared.registry import AsyncRegistry

#: Most frames written in one go.
MAX_BATCH = 256


async def serve_client(request: web.Request, client: Client, sink: Sink, last_id: int | None) -> None:
    """Snapshot (or replay), then queued frames until the queue is empty and the client goes live."""
    app = request.app
    registry = app[STREAM_REGISTRY]
    clients = app[CLIENTS]
    cursor = await begin(registry, client, sink, last_id, app[STREAM_METRICS])
    while True:
        if client.queue.empty():
            # Caught up: the fan-out writes from here on, and only a reset comes this way.
            clients.go_live(client, sink.socket, cursor)
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
        missed = await read_after(registry.client, last_id, registry.settings.events_maxlen)
        if missed is not None:
            metrics.resumes.labels("replayed").inc()
            wanted = [frame for frame in missed if client.wants(frame)]
            for at in range(0, len(wanted), MAX_BATCH):
                await sink.send(wanted[at : at + MAX_BATCH])
            return missed[-1].seq if missed and missed[-1].seq is not None else last_id
        metrics.resumes.labels("reset").inc()
        return await reset(registry, client, sink)
    return await snapshot(registry, client, sink)


async def snapshot(registry: AsyncRegistry, client: Client, sink: Sink) -> int:
    client.awaiting_snapshot = True
    try:
        async with client.snapshot_slots:
            # From here on, frames may be newer than the snapshot read next: queue them again.
            client.awaiting_snapshot = False
            frame = await build_snapshot(
                registry, client.queue_filter, registry.settings.stream_snapshot_jobs
            )
    finally:
        client.awaiting_snapshot = False
    await sink.send([frame])
    return frame.last_id


async def reset(registry: AsyncRegistry, client: Client, sink: Sink) -> int:
    """What was missed is gone: say so, then start over from a snapshot."""
    await sink.send(
        [gateway_frame("reset", {"reason": "events no longer available"}, 0, client.queue_filter)]
    )
    return await snapshot(registry, client, sink)
