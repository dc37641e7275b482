"""How long each queue keeps its finished jobs, and the calls that set and enforce it.

Anchors: BullMQ's removeOnComplete/removeOnFail (by age and count) and Sidekiq's
dead set (10,000 jobs or 6 months). Each queue may set its own policy (a hash at
``fq:retention:<queue>``); fields it leaves out take the settings' defaults. The
monitor enforces it continuously in short batches (queue_trim.lua), so no Redis
command runs long and completions pay nothing for it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from shared import keys
from shared.config import Settings
from shared.registry import AsyncRegistry
from shared.scripts import Call, Lua
from shared.states import JobState

#: Jobs one trim call removes at most (~8 µs each: a call stays near 1 ms, as clean's do).
TRIM_BATCH = 100
#: Trim calls per queue and state in one monitor tick: bounds a tick's work
#: (10,000 jobs) while a backlog beyond it is caught up over the next ticks.
TRIM_CALLS_PER_TICK = 100
#: Longest age a policy may set, in seconds (one year).
MAX_AGE_S = 366 * 86_400
#: Most jobs a policy may keep per queue and state.
MAX_COUNT = 10_000_000


@dataclass(frozen=True, slots=True)
class Retention:
    """Finished jobs a queue keeps: at most ``*_count`` of each state, none older than ``*_age_s``."""

    completed_age_s: float
    completed_count: int
    failed_age_s: float
    failed_count: int

    @classmethod
    def defaults(cls, settings: Settings) -> Retention:
        return cls(
            completed_age_s=settings.completed_keep_age_s,
            completed_count=settings.completed_keep_count,
            failed_age_s=settings.failed_keep_age_s,
            failed_count=settings.failed_keep_count,
        )

    @classmethod
    def of(cls, stored: dict[str, str], settings: Settings) -> Retention:
        """A queue's policy from its hash (decoded), defaults where it sets nothing."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name in stored:
                raw = stored[f.name]
                values[f.name] = int(raw) if f.name.endswith("_count") else float(raw)
        return dataclasses.replace(cls.defaults(settings), **values)

    def keep(self, state: JobState) -> tuple[int, float]:
        """(count, age in s) kept of ``state`` (completed or failed)."""
        if state is JobState.COMPLETED:
            return self.completed_count, self.completed_age_s
        if state is JobState.FAILED:
            return self.failed_count, self.failed_age_s
        raise ValueError(f"{state} jobs are not trimmed")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


async def read_policy(registry: AsyncRegistry, queue: str) -> tuple[Retention, bool]:
    """``queue``'s retention, and whether the queue sets any of it itself (else: the defaults)."""
    stored: dict[str, str] = await registry.client.hgetall(keys.retention_key(queue))  # type: ignore[assignment]
    return Retention.of(stored, registry.settings), bool(stored)


def set_policy(queue: str, policy: Retention | None, *, who: str) -> Call[int]:
    """Give ``queue`` its own policy (None: back to the defaults); audited and announced."""
    pairs: list[str | int | float] = []
    summary = ""
    if policy is not None:
        for name, value in policy.to_dict().items():
            pairs += [name, value]
        summary = json.dumps(policy.to_dict(), separators=(",", ":"))
    return Call(
        Lua.QUEUE_RETENTION,
        [keys.retention_key(queue), keys.QUEUES, keys.AUDIT_STREAM],
        [queue, who, summary, *pairs],
        int,
    )


def trim(queue: str, state: JobState, keep_count: int, cutoff_ms: int) -> Call[int]:
    """Remove up to TRIM_BATCH of the oldest ``state`` jobs beyond ``keep_count`` or before ``cutoff_ms``."""
    return Call(
        Lua.QUEUE_TRIM,
        [keys.state_key(queue, state), keys.JOBS_INDEX],
        [queue, state.value, keep_count, cutoff_ms, TRIM_BATCH],
        int,
    )
