"""Calls of operators' actions: retry, promote, delete, re-prioritise, clean, pause, resume, and
the batches of bulk work (each at most BULK_BATCH jobs, so no call blocks Redis for long).

Every action is audited with who did it; a job the action does not apply to is skipped
(bulk) or refused with the state it is in (one job).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from shared import keys
from shared.errors import InvalidTransition, JobNotFound
from shared.scripts import Call, Lua, T, as_bool, as_text
from shared.states import JobState

#: Who an action is recorded as when no operator is named (scripts, tests).
SYSTEM = "system"
#: Most jobs one admin script call handles, so no call blocks Redis for long.
BULK_BATCH = 1000
#: Milliseconds a deleted job stays in the trash unless told otherwise (``Settings.trash_ttl_s``).
TRASH_TTL_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an admin action did: jobs changed, jobs skipped, and the state of the last one it looked at."""

    done: int
    skipped: int
    last_state: str


def _outcome(raw: Any) -> Outcome:
    return Outcome(int(raw[0]), int(raw[1]), str(raw[2]))


def _one(job_id: str, verb: str, new_state: str | None = None) -> Callable[[Any], str]:
    """Parse an admin call made for one job: ``new_state`` (default: the state it was in), or why not."""

    def parse(raw: Any) -> str:
        outcome = _outcome(raw)
        if outcome.done:
            return new_state or outcome.last_state
        if outcome.last_state == "missing":
            raise JobNotFound(f"no job {job_id!r}")
        raise InvalidTransition(f"{outcome.last_state} job cannot be {verb}", state=outcome.last_state)

    return parse


def _retry_call(queue: str, ids: Sequence[str], who: str, limit: int, parse: Callable[[Any], T]) -> Call[T]:
    return Call(
        Lua.JOB_RETRY,
        [keys.state_key(queue, JobState.FAILED), keys.state_key(queue, JobState.WAITING), keys.AUDIT_STREAM],
        [queue, who, limit, *ids],
        parse,
    )


def _promote_call(queue: str, ids: Sequence[str], who: str, limit: int, parse: Callable[[Any], T]) -> Call[T]:
    return Call(
        Lua.JOB_PROMOTE,
        [keys.state_key(queue, JobState.DELAYED), keys.state_key(queue, JobState.WAITING), keys.AUDIT_STREAM],
        [queue, who, limit, *ids],
        parse,
    )


def _delete_call(
    queue: str,
    ids: Sequence[str],
    who: str,
    limit: int,
    force: bool,
    source: JobState,
    parse: Callable[[Any], T],
    trash_ttl_ms: int = TRASH_TTL_MS,
) -> Call[T]:
    return Call(
        Lua.JOB_DELETE,
        [
            *(keys.state_key(queue, s) for s in JobState),
            keys.dispatched_key(queue),
            keys.AUDIT_STREAM,
            keys.state_key(queue, source),
            keys.JOBS_INDEX,
            keys.TRASH,
        ],
        [queue, who, limit, int(force), trash_ttl_ms, *ids],
        parse,
    )


def retry(job_id: str, queue: str, *, who: str = SYSTEM) -> Call[str]:
    """Operator action: failed -> waiting."""
    return _retry_call(queue, [job_id], who, 0, _one(job_id, "retried", JobState.WAITING.value))


def promote(job_id: str, queue: str, *, who: str = SYSTEM) -> Call[str]:
    """Operator action: delayed -> waiting now."""
    return _promote_call(queue, [job_id], who, 0, _one(job_id, "promoted", JobState.WAITING.value))


def delete(
    job_id: str, queue: str, *, force: bool = False, who: str = SYSTEM, trash_ttl_ms: int = TRASH_TTL_MS
) -> Call[str]:
    """Operator action: move a job to the trash (an active one only with ``force``); returns its state."""
    verb = "deleted without force" if not force else "deleted"
    return _delete_call(queue, [job_id], who, 0, force, JobState.WAITING, _one(job_id, verb), trash_ttl_ms)


def restore(job_id: str, *, who: str = SYSTEM) -> Call[str]:
    """Operator action: a deleted job back from the trash to the state it was in; returns that state."""
    return Call(Lua.TRASH_RESTORE, [keys.JOBS_INDEX, keys.TRASH, keys.AUDIT_STREAM], [job_id, who], as_text)


class BulkVerb(enum.StrEnum):
    """What a bulk batch does to each job."""

    #: failed -> waiting, attempts reset.
    RETRY = "retry"
    #: delayed -> waiting now.
    PROMOTE = "promote"
    #: Removed (an active job only with force).
    DELETE = "delete"


def bulk(
    action: BulkVerb,
    queue: str,
    *,
    ids: Sequence[str] = (),
    source: JobState | None = None,
    who: str = SYSTEM,
    force: bool = False,
) -> Call[Outcome]:
    """One batch (at most BULK_BATCH jobs) of a bulk action, by ids or from the head of ``source``."""
    if len(ids) > BULK_BATCH:
        raise ValueError(f"at most {BULK_BATCH} ids per call")
    limit = 0 if ids else BULK_BATCH
    match action:
        case BulkVerb.RETRY:
            return _retry_call(queue, ids, who, limit, _outcome)
        case BulkVerb.PROMOTE:
            return _promote_call(queue, ids, who, limit, _outcome)
        case BulkVerb.DELETE:
            return _delete_call(queue, ids, who, limit, force, source or JobState.WAITING, _outcome)


def set_priority(job_id: str, queue: str, priority: int, *, who: str = SYSTEM) -> Call[str]:
    """Operator action: re-score a waiting or delayed job."""
    return Call(
        Lua.JOB_SET_PRIORITY,
        [
            keys.job_key(job_id),
            keys.state_key(queue, JobState.WAITING),
            keys.dispatched_key(queue),
            keys.AUDIT_STREAM,
        ],
        [job_id, queue, priority, who],
        as_text,
    )


def pause(queue: str, *, who: str = SYSTEM) -> Call[bool]:
    """Pause a queue; False when it already was."""
    return Call(Lua.QUEUE_PAUSE, [keys.PAUSED, keys.QUEUES, keys.AUDIT_STREAM], [queue, who], as_bool)


def resume(queue: str, *, who: str = SYSTEM) -> Call[bool]:
    """Resume a queue; False when it was not paused."""
    return Call(Lua.QUEUE_RESUME, [keys.PAUSED, keys.AUDIT_STREAM], [queue, who], as_bool)
