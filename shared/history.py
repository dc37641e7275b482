"""One-minute samples of queue counts and throughput, kept 24 hours in ``fq:history``; and the
charts' history (issue 23): per-queue points at three resolutions in ``fq:history:<tier>``.

Each entry's stream id is its minute (``<minute ms>-0``), so two monitor
replicas sampling the same minute collide on XADD and only one sample lands.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from shared import keys, scripts
from shared.scripts import Call, Lua
from shared.states import JobState

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


# --- Chart history (issue 23): three resolution tiers, bounded ---------------------------------


@dataclass(frozen=True, slots=True)
class Tier:
    """One resolution of the chart history: buckets of ``step_ms``, the newest ``keep`` kept."""

    name: str
    step_ms: int
    keep: int
    #: Buckets one monitor tick writes at most (a monitor down for longer leaves a gap).
    catch_up: int


#: 10 s for an hour, 1 min for a day, 10 min for a week: 2,808 points per tier set, bounded.
TIERS: tuple[Tier, ...] = (
    Tier("10s", 10_000, 360, 30),
    Tier("1m", 60_000, 1440, 10),
    Tier("10m", 600_000, 1008, 3),
)
#: Chart windows the API serves, in ms, and the tier each reads.
WINDOWS: dict[str, tuple[int, Tier]] = {
    "5m": (300_000, TIERS[0]),
    "1h": (3_600_000, TIERS[0]),
    "24h": (86_400_000, TIERS[1]),
    "7d": (604_800_000, TIERS[2]),
}
#: Completions read per queue and bucket for the run-time percentiles (a sample beyond this).
RUN_TIME_SAMPLE = 500


def point_call(tier: Tier, queues: list[str]) -> Call[int]:
    """Write ``tier``'s closed buckets since its last point (history_point.lua)."""
    states = (JobState.WAITING, JobState.ACTIVE, JobState.COMPLETED, JobState.FAILED)
    return Call(
        Lua.HISTORY_POINT,
        [keys.history_key(tier.name), *(keys.state_key(q, s) for q in queues for s in states)],
        [
            tier.name,
            tier.step_ms,
            tier.keep,
            tier.catch_up,
            RUN_TIME_SAMPLE,
            scripts.SCRIPT_BUDGET_US,
            *queues,
        ],
        int,
    )
