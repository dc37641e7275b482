"""Reading missed events back from ``fq:events`` by sequence number, in bounded pages.

Stream ids are not sequence numbers, so the reader's position is found by
reading backwards from the end (page by page, keeping nothing) until its seq;
the missed events are then read forwards, one page at a time, and handed to the
caller page by page. Memory per replay is one page whatever the backlog (one
resume from seq 1 used to buffer the whole stream: ~40 MB; issue 16), and a
reader further behind than the caller's bound is told to start over instead.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass

import redis.asyncio

from services.stream.frames import Frame, from_entry
from shared import keys

#: Entries read per XREVRANGE/XRANGE call: one page of a replay.
BATCH = 200


class ReplayGone(Exception):
    """Events the reader needs are no longer in the stream (trimmed, or Redis lost its data)."""


@dataclass(frozen=True, slots=True)
class Position:
    """Where a replay starts and ends."""

    #: Stream id the missed events follow (exclusive), or ``-`` for the stream's first entry.
    after: str
    #: Seq the reader has.
    last_seq: int
    #: Newest seq when the replay began: events after it reach the client by the fan-out.
    until: int


Entries = list[tuple[str, dict[str, str]]]


async def locate(client: redis.asyncio.Redis, last_seq: int, max_events: int) -> Position | None:
    """Where the events after ``last_seq`` start; None when they cannot all be replayed.

    None when more than ``max_events`` were missed, when some are no longer in
    the stream, or when the stream's numbering is behind ``last_seq`` (Redis lost
    its data and numbering restarted).
    """
    newest = int(await client.get(keys.EVENTS_SEQ) or 0)
    if newest < last_seq or newest - last_seq > max_events:
        return None
    if newest == last_seq:
        return Position("+", last_seq, newest)
    end, oldest = "+", None
    while True:
        batch: Entries = await client.xrevrange(  # type: ignore[assignment]
            keys.EVENTS_STREAM, max=end, min="-", count=BATCH
        )
        for entry_id, fields in batch:
            oldest = int(fields["seq"])
            if oldest == last_seq:
                return Position(entry_id, last_seq, newest)
            if oldest < last_seq:
                return None  # the reader's own event is missing: the run would not join it
        if len(batch) < BATCH:
            # The stream's start: complete only if it starts right after last_seq.
            return Position("-", last_seq, newest) if oldest == last_seq + 1 else None
        end = f"({batch[-1][0]}"


async def pages(client: redis.asyncio.Redis, position: Position) -> AsyncGenerator[list[Frame], None]:
    """The missed events, oldest first, a page at a time; raises ReplayGone on a gap."""
    after, expected = position.after, position.last_seq + 1
    start = after if after == "-" else f"({after}"
    while expected <= position.until:
        batch: Entries = await client.xrange(  # type: ignore[assignment]
            keys.EVENTS_STREAM, min=start, max="+", count=BATCH
        )
        page: list[Frame] = []
        for entry_id, fields in batch:
            if expected > position.until:
                break  # newer events come by the fan-out
            frame = from_entry(entry_id, fields)
            if frame.seq != expected:
                raise ReplayGone(f"expected seq {expected}, the stream has {frame.seq}")
            page.append(frame)
            expected += 1
        if not page:
            raise ReplayGone(f"the stream ends before seq {position.until}")
        yield page
        start = f"({batch[len(page) - 1][0]}"


async def read_after(client: redis.asyncio.Redis, last_seq: int, limit: int) -> list[Frame] | None:
    """Every event after ``last_seq`` in one list (at most ``limit``); None when they are gone.

    For the fan-out's healing of a subscription gap, which delivers them all at once.
    """
    position = await locate(client, last_seq, limit)
    if position is None:
        return None
    collected: list[Frame] = []
    try:
        async for page in pages(client, position):
            collected += page
    except ReplayGone:
        return None
    return collected
