"""The states a job moves through."""

from __future__ import annotations

import enum


class JobState(enum.StrEnum):
    """Where a job stands; each state has its own sorted set per queue."""

    #: Ready to run, ordered by priority then enqueue time (dispatched jobs included).
    WAITING = "waiting"
    #: Held until its eta (a user delay or a retry backoff).
    DELAYED = "delayed"
    #: Running on a worker.
    ACTIVE = "active"
    #: Finished with a result.
    COMPLETED = "completed"
    #: Finished with an error after its retries.
    FAILED = "failed"


#: States an operator may remove a job from without ``force``.
REMOVABLE = frozenset({JobState.WAITING, JobState.DELAYED, JobState.COMPLETED, JobState.FAILED})

#: Highest (least urgent) priority; lower runs first.
MAX_PRIORITY = 99
#: Priority of a job that names none.
DEFAULT_PRIORITY = 5
#: Multiplier that puts priority above enqueue time in the waiting score.
PRIORITY_SCALE = 10**13


def waiting_score(priority: int, enqueued_ms: int) -> int:
    """Score in the waiting set: lowest priority first, then oldest first."""
    return priority * PRIORITY_SCALE + enqueued_ms
