"""The event contract (DESIGN.md): what travels on ``queue:updates`` and ``fq:events``.

Events are produced only inside the Lua transition scripts (so the record, the
counts and the event never disagree); this module decodes them for consumers.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any

#: Version of the event envelope.
EVENT_VERSION = 1


class EventType(enum.StrEnum):
    """Kinds of event."""

    #: A job changed state (``from``/``to``; null for created/removed).
    JOB = "job"
    #: A running job reported progress.
    PROGRESS = "progress"
    #: A queue was paused or resumed.
    PAUSE = "pause"
    #: The full worker list (from the monitor).
    WORKERS = "workers"
    #: An admin action (action, count, who).
    ADMIN = "admin"
    #: A gallery changed.
    GALLERY = "gallery"
    #: An operation (tracked bulk work) was created or progressed, finished, was cancelled.
    OPERATION = "operation"
    #: A new failure group appeared in a queue (fingerprint, actor, exception).
    FAILURE = "failure"


@dataclass(frozen=True, slots=True)
class Event:
    """One event: ``seq`` orders and deduplicates, ``id`` is its stream entry."""

    seq: int
    id: str
    ts: float
    type: EventType
    data: dict[str, Any]
    v: int = EVENT_VERSION

    @classmethod
    def from_message(cls, payload: str | bytes) -> Event:
        """Decode a pub/sub message."""
        raw = json.loads(payload)
        return cls(
            seq=int(raw["seq"]),
            id=raw["id"],
            ts=float(raw["ts"]),
            type=EventType(raw["type"]),
            data=raw["data"],
            v=int(raw["v"]),
        )

    @classmethod
    def from_stream_entry(cls, entry_id: str, fields: dict[str, str]) -> Event:
        """Decode an ``fq:events`` entry (as read with decoded responses)."""
        return cls(
            seq=int(fields["seq"]),
            id=entry_id,
            ts=float(fields["ts"]),
            type=EventType(fields["type"]),
            data=json.loads(fields["data"]),
        )

    def to_json(self) -> str:
        """The wire form, identical to what the scripts publish."""
        return json.dumps(
            {
                "v": self.v,
                "seq": self.seq,
                "id": self.id,
                "ts": self.ts,
                "type": self.type.value,
                "data": self.data,
            },
            separators=(",", ":"),
        )
