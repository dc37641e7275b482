"""Frames as written on the wire, built once per event for every client that gets it.

aiohttp-sse formats in each ``send()``; framing here is a pure function so an
event is encoded once (per transport) and tested without a socket.
"""

from __future__ import annotations

import json
import struct
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from shared.events import EVENT_VERSION

#: SSE line separator (aiohttp-sse's default).
SEP = "\r\n"

#: Topic each event type belongs to; clients choose topics.
TOPIC_OF = {
    "job": "jobs",
    "admin": "jobs",
    "gallery": "jobs",
    "progress": "progress",
    "workers": "workers",
    "pause": "pause",
    "stats": "stats",
    "operation": "operations",
    "failure": "jobs",
}
#: Every topic a client may ask for.
TOPICS = frozenset(TOPIC_OF.values())
#: Topics of a client that names none (progress is chatty: opt in).
DEFAULT_TOPICS = frozenset(TOPICS - {"progress"})
#: Frame types every client gets whatever its topics.
CONTROL_TYPES = frozenset({"snapshot", "reset"})


@dataclass(frozen=True)
class Frame:
    """One event, with its SSE and WebSocket encodings computed at most once."""

    type: str
    #: Sequence number, or None for frames outside the sequence (stats).
    seq: int | None
    #: SSE ``id:`` (the seq, or the last seq before a stats/snapshot frame).
    last_id: int
    #: The envelope JSON, exactly as published (or built here for gateway frames).
    payload: str
    #: The queue the event concerns, for queue filters (None: every queue).
    queue: str | None
    #: Publish time (Unix seconds), for delivery lag.
    ts: float
    retry_ms: int | None = field(default=None, compare=False)

    @property
    def topic(self) -> str | None:
        return TOPIC_OF.get(self.type)

    @cached_property
    def sse(self) -> bytes:
        return sse_frame(self.type, self.payload, self.last_id, self.retry_ms)

    @cached_property
    def ws(self) -> bytes:
        """The WebSocket text frame, header included (servers do not mask)."""
        return ws_text(self.payload.encode())


def sse_frame(event: str, data: str, event_id: int | None, retry_ms: int | None = None) -> bytes:
    """``id``/``event``/``data``/``retry`` lines then a blank line; data is one line of JSON."""
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"event: {event}")
    lines.append(f"data: {data}")
    if retry_ms is not None:
        lines.append(f"retry: {retry_ms}")
    return (SEP.join(lines) + SEP + SEP).encode()


def ws_text(payload: bytes) -> bytes:
    """One unmasked, uncompressed, final text frame (RFC 6455 §5.2), as a server sends it."""
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 0x10000:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload


def from_published(payload: str) -> Frame:
    """A frame from a message on ``queue:updates`` (decoded once, re-encoded never)."""
    event = json.loads(payload)
    seq = int(event["seq"])
    data = event.get("data") or {}
    return Frame(event["type"], seq, seq, payload, data.get("queue"), float(event["ts"]))


def gateway_frame(kind: str, data: dict[str, Any], last_seq: int, queue: str | None = None) -> Frame:
    """A frame the gateway makes itself (snapshot, stats, reset), in the same envelope."""
    now = time.time()
    payload = json.dumps(
        {"v": EVENT_VERSION, "seq": last_seq, "type": kind, "ts": round(now, 3), "data": data},
        separators=(",", ":"),
    )
    return Frame(kind, None, last_seq, payload, queue, now)
