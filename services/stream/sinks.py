"""A handler's own writes to its connection (snapshot, replay, queued frames), with a stall deadline.

The bytes are the fan-out's (wire.py), so a connection's frames look the same
whichever path wrote them; the handler, unlike the fan-out, waits for a
backed-up socket to drain.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter

from services.stream.clients import Clients
from services.stream.frames import Frame
from services.stream.state import CLIENTS
from services.stream.wire import DRAIN_ABOVE, SSE_CHUNKED, SSE_PLAIN, Socket, Wire

#: Seconds a write may take before the client counts as stalled.
SEND_TIMEOUT_S = 10.0


class Sink:
    """Writes to one socket; ``drain`` waits for it to take more (aiohttp's writer while the
    handler owns the connection, the hand-over protocol's once it does; handover.py)."""

    __slots__ = ("clients", "drain", "socket")

    def __init__(self, socket: Socket, drain: Callable[[], Awaitable[None]], clients: Clients) -> None:
        self.socket = socket
        self.drain = drain
        self.clients = clients

    @classmethod
    def of(cls, writer: AbstractStreamWriter, wire: Wire, request: web.Request) -> Sink:
        """The sink of a request's connection, drained through aiohttp's writer."""
        transport = request.transport
        if transport is None:
            raise ConnectionResetError("the connection is gone")
        assert isinstance(transport, asyncio.Transport)
        return cls(Socket(transport, wire), writer.drain, request.app[CLIENTS])

    async def send(self, frames: Sequence[Frame]) -> None:
        if not frames:
            return
        buffered = self.socket.write(self.socket.wire.encode(frames))
        if buffered < 0:
            raise ConnectionResetError("the connection is closing")
        if buffered > DRAIN_ABOVE:
            async with asyncio.timeout(SEND_TIMEOUT_S):
                await self.drain()
        self.clients.count_sent(frames, 1)


def sse_wire(writer: AbstractStreamWriter) -> Wire:
    """HTTP/1.1 responses of unknown length go chunked (aiohttp decides; HTTP/1.0 does not)."""
    return SSE_CHUNKED if getattr(writer, "chunked", False) else SSE_PLAIN
