"""Operations (issue 20): tracked bulk work, as records in Redis and the script calls on them.

The API creates an operation (``op_create.lua``) with its target set fixed (a state set, a
failure group's set, or its own ids set, up to a bound); any monitor replica holding the
lease (``op_lease.lua``, with a fencing token) executes it one short ``op_batch.lua`` call
at a time from the record's cursor. Builders here are I/O-free, like shared/transitions.py.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared import keys, records, scripts
from shared.scripts import Call, Lua
from shared.states import JobState

#: Most ids one operation may name (as many as the synchronous bulk endpoint took).
MAX_IDS = 100_000
#: Jobs shown in a dry run's sample.
SAMPLE_SIZE = 10
#: Seconds an ids set written before its operation is recorded lives if the API dies meanwhile.
IDS_PENDING_TTL_S = 600


class OpState(enum.StrEnum):
    """Where an operation stands."""

    #: Recorded; no monitor has run a batch yet.
    QUEUED = "queued"
    #: A monitor is running its batches.
    RUNNING = "running"
    #: Every target was handled (done or skipped).
    DONE = "done"
    #: Cancelled by an operator; what was done stays done.
    CANCELLED = "cancelled"
    #: Given up (its record was damaged); never reached in normal operation.
    FAILED = "failed"


#: States after which nothing changes.
FINISHED = frozenset({OpState.DONE, OpState.CANCELLED, OpState.FAILED})


@dataclass(frozen=True, slots=True)
class Segment:
    """The positions ``start..end`` of an ids operation's set hold jobs of ``queue``."""

    queue: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Operation:
    """An ``fq:op:<id>`` record, decoded."""

    id: str
    action: str
    state: OpState
    queue: str
    filter_state: str
    fingerprint: str
    total: int
    done: int
    skipped: int
    created_by: str
    created_ms: int
    started_ms: int | None
    finished_ms: int | None
    source: str
    cursor: str
    offset: int
    force: bool
    priority: int | None
    cutoff_ms: int | None
    ids: int
    undo_of: str
    segments: list[Segment] = field(default_factory=list)

    @classmethod
    def from_hash(cls, f: Mapping[str, str]) -> Operation:
        segments = [Segment(q, int(a), int(b)) for q, a, b in json.loads(f.get("segments") or "[]")]
        return records.from_hash(
            cls,
            f,
            id=f["id"],
            state=OpState(f.get("state", "failed")),
            cursor=f.get("cursor", "-inf"),
            force=f.get("force") == "1",
            segments=segments,
        )

    def current_segment(self) -> tuple[Segment | None, bool]:
        """The ids segment the cursor is in (None for a filter) and whether it is the last."""
        if not self.segments:
            return None, True
        position = float(self.cursor)
        for n, segment in enumerate(self.segments):
            if position <= segment.end:
                return segment, n == len(self.segments) - 1
        return self.segments[-1], True


def create(
    op_id: str,
    who: str,
    source: str,
    fields: Mapping[str, str | int],
    *,
    bound: str = "last",
    skipped: int = 0,
    total: int | None = None,
    idempotency: tuple[str, int] | None = None,
) -> Call[tuple[str, bool]]:
    """Record an operation over ``source`` up to ``bound``; an idempotency key (key name, TTL ms)
    already used returns the operation it created instead."""
    idem_key, idem_ms = idempotency or (keys.operation_key(op_id), 0)  # the slot is unused at TTL 0
    flat: list[str | int] = []
    for name, value in fields.items():
        flat += [name, value]

    def parse(raw: Any) -> tuple[str, bool]:
        return str(raw[0]), bool(int(raw[1]))

    return Call(
        Lua.OP_CREATE,
        [
            keys.operation_key(op_id),
            keys.OPERATIONS,
            keys.OPERATIONS_PENDING,
            idem_key,
            keys.AUDIT_STREAM,
            source,
        ],
        [op_id, who, idem_ms, bound, skipped, "" if total is None else total, *flat],
        parse,
    )


def lease(owner: str, ttl_ms: int, held: int | None, *, release: bool = False) -> Call[int]:
    """Take or renew the operations lease: the token held, or 0 when another monitor holds it.
    With ``release``, give up the caller's lease (nothing left to run)."""
    return Call(
        Lua.OP_LEASE,
        [keys.OPERATIONS_LEASE, keys.OPERATIONS_FENCE],
        [owner, ttl_ms, "" if held is None else held, int(release)],
        int,
    )


def batch(
    op: Operation, owner: str, token: int, *, lease_ms: int, size: int, trash_ttl_ms: int
) -> Call[tuple[str, int, int]]:
    """The next batch of ``op``, under the lease ``token``."""
    segment, last = op.current_segment()
    queue = segment.queue if segment else op.queue

    def parse(raw: Any) -> tuple[str, int, int]:
        return str(raw[0]), int(raw[1]), int(raw[2])

    return Call(
        Lua.OP_BATCH,
        [
            keys.operation_key(op.id),
            keys.OPERATIONS_LEASE,
            keys.OPERATIONS_PENDING,
            op.source,
            *(keys.state_key(queue, s) for s in JobState),
            keys.dispatched_key(queue),
            keys.JOBS_INDEX,
            keys.TRASH,
            keys.operation_trash_key(op.id),
            keys.AUDIT_STREAM,
        ],
        [
            owner,
            token,
            lease_ms,
            size,
            str(segment.end) if segment else "",
            queue,
            int(last),
            trash_ttl_ms,
            scripts.SCRIPT_BUDGET_US,
        ],
        parse,
    )


def cancel(op_id: str, who: str) -> Call[str]:
    """queued/running -> cancelled; raises OperationNotFound, InvalidTransition (finished)."""
    return Call(
        Lua.OP_CANCEL,
        [keys.operation_key(op_id), keys.OPERATIONS_PENDING, keys.AUDIT_STREAM],
        [op_id, who],
        str,
    )


def purge_trash(cutoff_ms: int, size: int) -> Call[int]:
    """Forget up to ``size`` jobs deleted before ``cutoff_ms`` for good."""
    return Call(Lua.TRASH_PURGE, [keys.TRASH], [cutoff_ms, size], int)


def forget(cutoff_ms: int, size: int) -> Call[int]:
    """Forget up to ``size`` finished operations created before ``cutoff_ms`` (none with trashed jobs)."""
    return Call(Lua.OPS_FORGET, [keys.OPERATIONS], [cutoff_ms, size], int)


def group_by_queue(ids: Sequence[str], queues: Sequence[str | None]) -> tuple[list[Segment], list[str], int]:
    """Order ``ids`` by queue (as found); returns the segments, the ordered ids and how many were unknown."""
    by_queue: dict[str, list[str]] = {}
    missing = 0
    for job_id, queue in zip(ids, queues, strict=True):
        if queue is None:
            missing += 1
        else:
            by_queue.setdefault(queue, []).append(job_id)
    segments: list[Segment] = []
    ordered: list[str] = []
    for queue, members in by_queue.items():
        segments.append(Segment(queue, len(ordered), len(ordered) + len(members) - 1))
        ordered += members
    return segments, ordered, missing
