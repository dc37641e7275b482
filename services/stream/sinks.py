"""Writing frames to one connection, SSE or WebSocket, with a stall deadline."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from aiohttp import web
from aiohttp_sse import EventSourceResponse

from services.stream.frames import Frame
from services.stream.state import STREAM_METRICS
from shared.metrics import StreamMetrics

#: Seconds a write may take before the client counts as stalled.
SEND_TIMEOUT_S = 10.0


class SseSink:
    def __init__(self, response: EventSourceResponse, request: web.Request) -> None:
        self.response = response
        self.metrics = request.app[STREAM_METRICS]

    async def send(self, frames: list[Frame]) -> None:
        if not frames:
            return
        async with asyncio.timeout(SEND_TIMEOUT_S):
            await self.response.write(b"".join(frame.sse for frame in frames))
        observe(self.metrics, frames)


class WsSink:
    def __init__(self, ws: web.WebSocketResponse, request: web.Request) -> None:
        self.ws = ws
        self.metrics = request.app[STREAM_METRICS]

    async def send(self, frames: list[Frame]) -> None:
        async with asyncio.timeout(SEND_TIMEOUT_S):
            for frame in frames:
                await self.ws.send_str(frame.ws)
        observe(self.metrics, frames)


def observe(metrics: StreamMetrics, frames: list[Frame]) -> None:
    """Count frames by type; lag once per write, from its oldest frame (the batch's worst)."""
    for kind, count in Counter(frame.type for frame in frames).items():
        metrics.sent.labels(kind).inc(count)
    if frames:
        metrics.lag.observe(max(0.0, time.time() - frames[0].ts))
