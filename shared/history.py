"""One-minute samples of queue counts and throughput, kept 24 hours in ``fq:history``.

Each entry's stream id is its minute (``<minute ms>-0``), so two monitor
replicas sampling the same minute collide on XADD and only one sample lands.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

#: Samples kept: 24 hours of minutes.
HISTORY_LENGTH = 24 * 60
#: Milliseconds per sample.
SAMPLE_MS = 60_000


@dataclass(frozen=True, slots=True)
class Sample:
    """Counts per queue and state, and outcomes per queue in the minute before ``minute_ms``."""

    minute_ms: int
    counts: dict[str, dict[str, int]]
    completed: dict[str, int]
    failed: dict[str, int]

    def fields(self) -> dict[Any, Any]:
        return {
            "counts": json.dumps(self.counts, separators=(",", ":")),
            "completed": json.dumps(self.completed, separators=(",", ":")),
            "failed": json.dumps(self.failed, separators=(",", ":")),
        }

    @classmethod
    def from_entry(cls, entry_id: str, fields: dict[str, Any]) -> Sample:
        return cls(
            minute_ms=int(entry_id.split("-", 1)[0]),
            counts=json.loads(fields["counts"]),
            completed=json.loads(fields["completed"]),
            failed=json.loads(fields["failed"]),
        )


def minute_of(now_ms: int) -> int:
    """Start (ms) of the minute ``now_ms`` falls in."""
    return now_ms - now_ms % SAMPLE_MS
