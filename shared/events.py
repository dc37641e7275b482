"""The event contract (DESIGN.md): what travels on ``queue:updates`` and ``fq:events``.

Events are produced only inside the Lua transition scripts (so the record, the
counts and the event never disagree). Their envelope is written once, here:
``ENVELOPE`` is substituted into the scripts' prelude when they load, and the
gateway frames, replays and decodes with the functions below; the type and topic
names are served to the dashboard by the API (``/config.json``).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Version of the event envelope.
EVENT_VERSION = 1

#: The envelope's fields after ``v``, in their order, each with its ``%`` form (strings quoted).
ENVELOPE_FIELDS: tuple[tuple[str, str], ...] = (
    ("seq", "%s"),
    ("id", '"%s"'),
    ("ts", "%s"),
    ("type", '"%s"'),
    ("data", "%s"),
)


def _envelope_format(*left_out: str) -> str:
    fields = ",".join(f'"{name}":{form}' for name, form in ENVELOPE_FIELDS if name not in left_out)
    return '{"v":' + str(EVENT_VERSION) + "," + fields + "}"


#: The published form of an event, for Python's ``%`` and Lua's ``string.format`` alike:
#: seq, stream id, ts (seconds, three decimals, as text), type, data (JSON). The scripts
#: publish exactly these bytes, and a replay rebuilds them from the stream entry.
ENVELOPE = _envelope_format()
#: A gateway frame's form: the same fields in the same order, but the stream id (it has none).
GATEWAY_ENVELOPE = _envelope_format("id")


class EventType(enum.StrEnum):
    """Kinds of event the scripts publish (each has a ``seq`` and a stream entry)."""

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
    #: A chart-history point (tier, bucket end ``t``, per-queue figures), from the monitor.
    HISTORY = "history"
    #: A queue's limits were set (queue, concurrency, rate_limit, rate_window_s, who; issue 21).
    LIMITS = "limits"
    #: A schedule was created, changed, removed or fired (name, action, job; issue 21).
    SCHEDULE = "schedule"
    #: An audit entry was written (who, role, address, action, queue, target, count; issue 22).
    AUDIT = "audit"
    #: An operation (tracked bulk work) was created or progressed, finished, was cancelled.
    OPERATION = "operation"
    #: A new failure group appeared in a queue (fingerprint, actor, exception).
    FAILURE = "failure"


class GatewayType(enum.StrEnum):
    """Frames the gateway makes itself, outside the sequence."""

    #: Counts per queue and state, coalesced (at most one per client per window).
    STATS = "stats"
    #: The state a client starts from: counts, paused queues, workers, newest jobs.
    SNAPSHOT = "snapshot"
    #: Missed events are gone: drop what you hold, a snapshot follows.
    RESET = "reset"


class Topic(enum.StrEnum):
    """What a client subscribes to (``/stream?topics=``)."""

    JOBS = "jobs"
    PROGRESS = "progress"
    WORKERS = "workers"
    PAUSE = "pause"
    STATS = "stats"
    #: Schedules created, changed, fired (issue 21).
    SCHEDULES = "schedules"
    #: Audit entries as they are written, for the Audit view (issue 22).
    AUDIT = "audit"
    #: Tracked bulk work: progress, finish, cancel (issue 20).
    OPERATIONS = "operations"


#: Topic each frame type belongs to; snapshot and reset go to every client.
TOPIC_OF: Mapping[str, Topic] = {
    EventType.JOB: Topic.JOBS,
    EventType.ADMIN: Topic.JOBS,
    EventType.GALLERY: Topic.JOBS,
    EventType.PROGRESS: Topic.PROGRESS,
    EventType.WORKERS: Topic.WORKERS,
    EventType.PAUSE: Topic.PAUSE,
    GatewayType.STATS: Topic.STATS,
    EventType.LIMITS: Topic.PAUSE,  # queue settings, beside pause/resume (issue 21)
    EventType.SCHEDULE: Topic.SCHEDULES,
    EventType.HISTORY: Topic.STATS,  # chart points (issue 23): figures, like stats
    EventType.AUDIT: Topic.AUDIT,
    EventType.OPERATION: Topic.OPERATIONS,
    EventType.FAILURE: Topic.JOBS,
}
#: Frame types every client gets whatever its topics.
CONTROL_TYPES = frozenset({GatewayType.SNAPSHOT, GatewayType.RESET})
#: Topics of a client that names none (progress is chatty, audit is for the Audit view: opt in).
DEFAULT_TOPICS = frozenset(Topic) - {Topic.PROGRESS, Topic.AUDIT}
#: Frame types a queue-scoped client gets although they name no queue of its own (issue 22):
#: none of the others (workers, galleries, schedules, chart points, admin actions on no queue)
#: is about only its queues.
SCOPE_FREE_TYPES = CONTROL_TYPES


def envelope(seq: int, stream_id: str, ts: str, etype: str, data_json: str) -> str:
    """The published bytes of an event (``ts`` as the script formatted it, ``%.3f``)."""
    return ENVELOPE % (seq, stream_id, ts, etype, data_json)


def gateway_envelope(kind: str, last_seq: int, ts: float, data: Mapping[str, Any]) -> str:
    """A gateway frame's JSON: the same envelope, without a stream id; ``seq`` is the last
    event the frame includes."""
    return GATEWAY_ENVELOPE % (last_seq, f"{ts:.3f}", kind, json.dumps(data, separators=(",", ":")))


def frame_types() -> list[str]:
    """Every frame type a client may receive (the dashboard listens for these)."""
    return [*GatewayType, *EventType]


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
        return envelope(
            self.seq, self.id, f"{self.ts:.3f}", self.type, json.dumps(self.data, separators=(",", ":"))
        )
