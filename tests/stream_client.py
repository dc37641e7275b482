"""A small SSE reader for Python consumers of the gateway (tests and benchmarks use it too)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import aiohttp

from shared.events import GatewayType


@dataclass(frozen=True)
class SseEvent:
    """One dispatched SSE event (comments and retry-only blocks are not events)."""

    event: str
    data: str
    id: str | None

    @cached_property
    def json(self) -> Any:
        return json.loads(self.data)

    @property
    def seq(self) -> int | None:
        """The event's own sequence number (None for stats/snapshot/reset frames)."""
        if self.event in set(GatewayType):
            return None
        return int(self.json["seq"])


async def read_events(response: aiohttp.ClientResponse) -> AsyncIterator[SseEvent]:
    """Parse the response body into events, as a browser's EventSource would.

    Reads whatever bytes have arrived and splits them itself: an await per line made one
    Python process too slow to follow hundreds of busy dashboards (the soak's 500 were
    dropped as slow by the gateway, a limit of the reader and not of the gateway).
    """
    event, event_id = "message", None
    data: list[str] = []
    pending = b""
    async for chunk in response.content.iter_any():
        *lines, pending = (pending + chunk).split(b"\n")
        for raw in lines:
            line = raw.decode().rstrip("\r")
            if not line:
                if data:
                    yield SseEvent(event, "\n".join(data), event_id)
                event, event_id, data = "message", None, []
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
            elif name == "id":
                event_id = value
