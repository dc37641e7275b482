"""Reading missed events back from ``fq:events`` by sequence number.

Stream ids are not sequence numbers, so the stream is read backwards from its
end until the last seq the reader has; the cost is the number of missed events,
which must be sent anyway.
"""

from __future__ import annotations

import redis.asyncio

from services.stream.frames import Frame
from shared import keys

#: Entries read per XREVRANGE call.
BATCH = 500


def frame_from_entry(entry_id: str, fields: dict[str, str]) -> Frame:
    """The frame a stream entry was published as (same bytes as the Lua script's PUBLISH)."""
    seq, etype, ts, data = int(fields["seq"]), fields["type"], fields["ts"], fields["data"]
    payload = f'{{"v":1,"seq":{seq},"id":"{entry_id}","ts":{ts},"type":"{etype}","data":{data}}}'
    queue = None
    marker = '"queue":"'
    at = data.find(marker)
    if at >= 0:
        queue = data[at + len(marker) : data.index('"', at + len(marker))]
    return Frame(etype, seq, seq, payload, queue, float(ts))


async def read_after(client: redis.asyncio.Redis, last_seq: int, limit: int) -> list[Frame] | None:
    """Events after ``last_seq``, oldest first; None when some are no longer there.

    None also when the stream's sequence is behind ``last_seq`` (Redis lost its
    data and numbering restarted) or more than ``limit`` events were missed.
    """
    collected: list[Frame] = []
    end = "+"
    while True:
        batch: list[tuple[str, dict[str, str]]] = await client.xrevrange(  # type: ignore[assignment]
            keys.EVENTS_STREAM, max=end, min="-", count=BATCH
        )
        for entry_id, fields in batch:
            frame = frame_from_entry(entry_id, fields)
            assert frame.seq is not None
            if frame.seq <= last_seq:
                # Reached what the reader has: the collected run must join it exactly.
                if frame.seq != last_seq or (collected and collected[-1].seq != last_seq + 1):
                    return None
                return collected[::-1]
            collected.append(frame)
            if len(collected) > limit:
                return None
        if len(batch) < BATCH:
            # The stream's start: complete only if it starts right after last_seq.
            if not collected:
                return [] if last_seq == 0 else None
            return collected[::-1] if collected[-1].seq == last_seq + 1 else None
        end = f"({batch[-1][0]}"
