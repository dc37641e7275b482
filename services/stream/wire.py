"""Bytes on one connection's socket: frames encoded for SSE (chunked or not) or WebSocket.

The fan-out writes a batch of frames to every live client of a kind with one
``transport.write`` of bytes encoded once for all of them: no task wake-up,
no framework call, no per-client encoding on the hot path (issue 9: at 1,000
clients x 500 events/s those were what bounded the gateway).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from services.stream.frames import Frame

#: Bytes queued on a socket before a handler's own write waits for it to drain.
DRAIN_ABOVE = 0x10000
#: An SSE comment: browsers ignore it, proxies see traffic on an idle stream.
PING = b": ping\r\n\r\n"


def chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk (aiohttp sends a response of unknown length chunked)."""
    return f"{len(data):x}\r\n".encode("ascii") + data + b"\r\n"


@dataclass(frozen=True, eq=False)
class Wire:
    """How frames look on one connection; connections on one wire share their bytes.

    There are three, below; compared by identity (the fan-out looks one up per client).
    """

    #: "sse" or "ws".
    kind: str
    #: HTTP/1.1 chunked transfer encoding (SSE over HTTP/1.1; never WebSocket).
    chunked: bool = False

    def ping(self) -> bytes | None:
        """The keep-alive bytes of this wire (None: WebSocket, whose pings aiohttp sends)."""
        if self.kind == "ws":
            return None
        return chunk(PING) if self.chunked else PING

    def encode(self, frames: Sequence[Frame]) -> bytes:
        if self.kind == "ws":
            return b"".join(frame.ws for frame in frames)
        data = b"".join(frame.sse for frame in frames)
        return chunk(data) if self.chunked else data


SSE_CHUNKED = Wire("sse", chunked=True)
SSE_PLAIN = Wire("sse")
WEBSOCKET = Wire("ws")


class Socket:
    """A connection's transport, written without awaiting (the fan-out's path)."""

    __slots__ = ("transport", "wire")

    def __init__(self, transport: asyncio.Transport, wire: Wire) -> None:
        self.transport = transport
        self.wire = wire

    def write(self, data: bytes) -> int:
        """Write unless closing; returns the bytes left in the gateway's buffer (-1: closing)."""
        transport = self.transport
        if transport.is_closing():
            return -1
        transport.write(data)
        return transport.get_write_buffer_size()
