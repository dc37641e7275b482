"""Builders of every registry script call, free of I/O.

Each function returns a :class:`~shared.scripts.Call`; ``Registry.run`` (sync)
and ``AsyncRegistry.run`` execute it, so workers and the API share one
definition of each transition.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from shared import keys
from shared.errors import InvalidTransition, JobNotFound
from shared.jobs import Job
from shared.messages import message_template
from shared.scripts import Call, Lua, T
from shared.states import MAX_PRIORITY, JobState

#: Delayed jobs released per dispatch call, so one call never blocks Redis long.
RELEASE_BATCH = 500
#: Milliseconds after which a dispatched job whose Dramatiq copy is gone is dispatched again.
ORPHAN_AFTER_MS = 10_000


def _int(raw: Any) -> int:
    return int(raw)


def _text(raw: Any) -> str:
    return str(raw)


def _bool(raw: Any) -> bool:
    return bool(int(raw))


def submit(
    *,
    job_id: str,
    queue: str,
    actor: str,
    args: Sequence[Any],
    priority: int,
    max_retries: int,
    delay_ms: int,
    template: str | None = None,
) -> Call[str]:
    """Create a job as waiting or delayed.

    ``template`` is the job's Dramatiq message (shared/messages.py); by default a
    message with no options. ``max_retries`` is what the job shows until a worker
    knows the actor's own (job_start.lua records the one that applies).
    """
    if template is None:
        template = message_template(
            job_id=job_id, queue=queue, actor=actor, args=args, created_ms=int(time.time() * 1000)
        )
    return Call(
        Lua.JOB_SUBMIT,
        [
            keys.job_key(job_id),
            keys.state_key(queue, JobState.WAITING),
            keys.state_key(queue, JobState.DELAYED),
            keys.QUEUES,
            keys.JOBS_INDEX,
            keys.wake_key(queue),
        ],
        [job_id, queue, actor, priority, json.dumps(list(args)), max_retries, delay_ms, template],
        _text,
    )


def dispatch(queue: str, target: int) -> Call[tuple[int, int, bool]]:
    """Release due delayed jobs and top Dramatiq's list up to ``target`` messages."""

    def parse(raw: Any) -> tuple[int, int, bool]:
        return int(raw[0]), int(raw[1]), bool(raw[2])

    return Call(
        Lua.JOBS_DISPATCH,
        [
            keys.state_key(queue, JobState.WAITING),
            keys.state_key(queue, JobState.DELAYED),
            keys.dispatched_key(queue),
            keys.PAUSED,
            keys.dramatiq_queue_key(queue),
            keys.dramatiq_messages_key(queue),
        ],
        [queue, target, RELEASE_BATCH, ORPHAN_AFTER_MS],
        parse,
    )


def start(job_id: str, queue: str, gen: int, worker: str, max_retries: int | None = None) -> Call[str]:
    """waiting -> active for the copy a worker is about to run.

    ``max_retries``: the retries that apply to this run (message, actor or the
    Retries middleware's default, as Dramatiq decides), recorded on the job.
    """
    return Call(
        Lua.JOB_START,
        [
            keys.job_key(job_id),
            keys.state_key(queue, JobState.WAITING),
            keys.dispatched_key(queue),
            keys.state_key(queue, JobState.ACTIVE),
            keys.PAUSED,
        ],
        [job_id, queue, gen, worker, "" if max_retries is None else max_retries],
        _text,
    )


def unknown_actor(
    job_id: str, queue: str, gen: int, worker: str, error: str, grace_ms: int, recheck_ms: int
) -> Call[str]:
    """A copy reached a worker without its actor: delayed for a recheck, or failed after the grace."""
    return Call(
        Lua.JOB_UNKNOWN_ACTOR,
        [
            keys.job_key(job_id),
            keys.state_key(queue, JobState.WAITING),
            keys.dispatched_key(queue),
            keys.state_key(queue, JobState.DELAYED),
            keys.state_key(queue, JobState.FAILED),
        ],
        [job_id, queue, gen, worker, error, grace_ms, recheck_ms],
        _text,
    )


def orphaned(job_id: str, queue: str, gen: int, worker: str) -> Call[bool]:
    """active -> waiting for a job ``worker`` is recorded as running but does not run."""
    return Call(
        Lua.JOB_ORPHANED,
        [
            keys.job_key(job_id),
            keys.state_key(queue, JobState.ACTIVE),
            keys.state_key(queue, JobState.WAITING),
        ],
        [job_id, queue, gen, worker],
        _bool,
    )


def complete(
    job_id: str,
    queue: str,
    gen: int,
    worker: str,
    result_json: str,
    *,
    message_id: str = "",
) -> Call[bool]:
    """active -> completed (the monitor trims completed jobs by each queue's retention).

    With ``message_id`` (the Dramatiq copy's redis message id) the same script acks
    that copy from ``worker``'s ack set, as Dramatiq's ack would.
    """
    return Call(
        Lua.JOB_COMPLETE,
        [
            keys.job_key(job_id),
            keys.state_key(queue, JobState.ACTIVE),
            keys.state_key(queue, JobState.COMPLETED),
            keys.dramatiq_acks_key(worker, queue),
            keys.dramatiq_messages_key(queue),
        ],
        [job_id, queue, gen, worker, result_json, message_id],
        _bool,
    )


def fail(
    job_id: str,
    queue: str,
    gen: int,
    worker: str,
    error: str,
    traceback: str,
    fingerprint: str = "",
    exception: str = "",
) -> Call[bool]:
    """active -> failed; with a ``fingerprint`` the job joins that failure group (shared/fingerprints.py)."""
    return Call(
        Lua.JOB_FAIL,
        [
            keys.job_key(job_id),
            keys.state_key(queue, JobState.ACTIVE),
            keys.state_key(queue, JobState.FAILED),
        ],
        [job_id, queue, gen, worker, error, traceback, fingerprint, exception],
        _bool,
    )


def retry_later(
    job_id: str,
    queue: str,
    gen: int,
    worker: str,
    backoff_ms: int,
    error: str,
    traceback: str,
    template: str = "",
) -> Call[bool]:
    """active -> delayed, for a retry after ``backoff_ms``.

    ``template``: the message as the middleware left it (options added between
    attempts are kept for the next one); '' keeps the stored one.
    """
    return Call(
        Lua.JOB_RETRY_LATER,
        [
            keys.job_key(job_id),
            keys.state_key(queue, JobState.ACTIVE),
            keys.state_key(queue, JobState.DELAYED),
        ],
        [job_id, queue, gen, worker, backoff_ms, error, traceback, template],
        _bool,
    )


#: Who an action is recorded as when no operator is named (scripts, tests).
SYSTEM = "system"
#: Most jobs one admin script call handles, so no call blocks Redis for long.
BULK_BATCH = 1000
#: Milliseconds a deleted job stays in the trash unless told otherwise (``Settings.trash_ttl_s``).
TRASH_TTL_MS = 86_400_000
#: Most jobs one clean call removes. Each removal also writes and publishes its event
#: (~8 µs a job on a 2-core machine): 100 keeps a call near 1 ms and its worst, when
#: freeing memory stalls it, near 7 ms, under issue 9's 10 ms for any command while a
#: million jobs are cleaned (250: 2 ms typical, 9 ms worst; bench/api_latency.py).
CLEAN_BATCH = 100


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


def bulk(
    action: str,
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
    if action == "retry":
        return _retry_call(queue, ids, who, limit, _outcome)
    if action == "promote":
        return _promote_call(queue, ids, who, limit, _outcome)
    if action == "delete":
        return _delete_call(queue, ids, who, limit, force, source or JobState.WAITING, _outcome)
    raise ValueError(f"unknown bulk action {action!r}")


def clean(
    queue: str, state: JobState, cutoff_ms: int, *, limit: int = CLEAN_BATCH, who: str = SYSTEM
) -> Call[int]:
    """Remove up to ``limit`` (at most CLEAN_BATCH) completed or failed jobs finished before ``cutoff_ms``."""
    if state not in (JobState.COMPLETED, JobState.FAILED):
        raise ValueError("only completed and failed jobs are cleaned")
    return Call(
        Lua.QUEUE_CLEAN,
        [keys.state_key(queue, state), keys.AUDIT_STREAM, keys.JOBS_INDEX],
        [queue, who, state.value, cutoff_ms, max(1, min(limit, CLEAN_BATCH))],
        _int,
    )


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
        _text,
    )


def progress(job_id: str, queue: str, gen: int, worker: str, percent: float, stage: str) -> Call[bool]:
    """Record a running job's progress and announce it."""
    return Call(Lua.JOB_PROGRESS, [keys.job_key(job_id)], [job_id, queue, gen, worker, percent, stage], _bool)


def pause(queue: str, *, who: str = SYSTEM) -> Call[bool]:
    """Pause a queue; False when it already was."""
    return Call(Lua.QUEUE_PAUSE, [keys.PAUSED, keys.QUEUES, keys.AUDIT_STREAM], [queue, who], _bool)


def resume(queue: str, *, who: str = SYSTEM) -> Call[bool]:
    """Resume a queue; False when it was not paused."""
    return Call(Lua.QUEUE_RESUME, [keys.PAUSED, keys.AUDIT_STREAM], [queue, who], _bool)


#: Milliseconds a dead worker stays listed (as "dead") before it is forgotten.
DEAD_WORKER_KEEP_MS = 3_600_000


def worker_beat(worker_id: str, fields: dict[str, str | int | float]) -> Call[tuple[int, bool]]:
    """Register or refresh a worker process; returns the beat time (ms) and whether to stop."""
    flat: list[str | int | float] = [worker_id, keys.WORKERS_CHANGED_CHANNEL]
    for name, value in fields.items():
        flat += [name, value]

    def parse(raw: Any) -> tuple[int, bool]:
        return int(raw[0]), bool(raw[1])

    return Call(
        Lua.WORKER_BEAT,
        [keys.worker_key(worker_id), keys.WORKERS, keys.DRAMATIQ_HEARTBEATS, keys.WORKERS_DEAD],
        flat,
        parse,
    )


def reap_worker(
    worker_id: str, queues: Sequence[str], dead_after_ms: int, *, max_losses: int, forget: bool = False
) -> Call[int]:
    """Recover a dead (or, with ``forget``, departing) worker's jobs; -1 when it turned out alive.

    A dead worker's job fails as ``worker_lost`` once it has no retries left or its
    runs' workers died ``max_losses`` times (a poison job must not crash-loop the fleet).
    """
    per_queue: list[str] = []
    for queue in queues:
        per_queue += [
            keys.dramatiq_acks_key(worker_id, queue),
            keys.dramatiq_messages_key(queue),
            keys.state_key(queue, JobState.WAITING),
            keys.dispatched_key(queue),
            keys.state_key(queue, JobState.ACTIVE),
            keys.state_key(queue, JobState.FAILED),
        ]
    return Call(
        Lua.WORKERS_REAP,
        [keys.worker_key(worker_id), keys.WORKERS, keys.DRAMATIQ_HEARTBEATS, keys.WORKERS_DEAD, *per_queue],
        [
            worker_id,
            dead_after_ms,
            int(forget),
            DEAD_WORKER_KEEP_MS,
            keys.WORKERS_CHANGED_CHANNEL,
            max_losses,
            *queues,
        ],
        _int,
    )


def remove_worker(worker_id: str, who: str) -> Call[str]:
    """Operator action: drain a live worker, forget a dead one (reap it first)."""
    return Call(
        Lua.WORKER_REMOVE,
        [keys.worker_key(worker_id), keys.WORKERS, keys.WORKERS_DEAD, keys.AUDIT_STREAM],
        [worker_id, who, keys.WORKERS_CHANGED_CHANNEL],
        _text,
    )


def publish_workers(workers_json: str) -> Call[int]:
    """Emit a ``workers`` event carrying the given JSON array."""
    return Call(Lua.WORKERS_PUBLISH, [], [workers_json], _int)


@dataclass(frozen=True, slots=True)
class QueueHealth:
    """One queue's figures, as the monitor exports them."""

    counts: dict[str, int]
    #: Enqueue time (ms) of the oldest waiting job; None when nothing waits.
    oldest_waiting_ms: int | None
    completed_in_window: int
    failed_in_window: int
    #: Length (ms) of the window the outcomes were counted over.
    window_ms: int

    @property
    def completed_per_s(self) -> float:
        return self.completed_in_window / (self.window_ms / 1000)

    @property
    def failed_per_s(self) -> float:
        return self.failed_in_window / (self.window_ms / 1000)

    def oldest_waiting_s(self, now_ms: int) -> float | None:
        """Age of the oldest waiting job at ``now_ms`` (Redis clock); None when nothing waits."""
        return None if self.oldest_waiting_ms is None else max(0, now_ms - self.oldest_waiting_ms) / 1000


#: Window (ms) over which throughput is measured, by the monitor's gauges and the API alike.
THROUGHPUT_WINDOW_MS = 60_000


def queue_health(
    queues: Sequence[str], window_ms: int = THROUGHPUT_WINDOW_MS
) -> Call[dict[str, QueueHealth]]:
    """Counts, oldest waiting job and recent outcomes of each queue."""
    states = list(JobState)

    def parse(raw: Any) -> dict[str, QueueHealth]:
        out = {}
        for queue, row in zip(queues, raw, strict=True):
            counts = {s.value: int(n) for s, n in zip(states, row[:5], strict=True)}
            oldest = int(row[5])
            out[queue] = QueueHealth(
                counts, None if oldest < 0 else oldest, int(row[6]), int(row[7]), window_ms
            )
        return out

    return Call(
        Lua.QUEUE_HEALTH,
        [keys.state_key(q, s) for q in queues for s in states],
        [window_ms, MAX_PRIORITY],
        parse,
    )


#: States listed newest first (by finish or start time); the others oldest or most urgent first.
NEWEST_FIRST = frozenset({JobState.ACTIVE, JobState.COMPLETED, JobState.FAILED})


def list_jobs(
    queue: str, state: JobState, limit: int, cursor: str | None = None
) -> Call[tuple[list[Job], str | None]]:
    """One page of a state's jobs and the cursor of the next page (None at the end)."""
    score, _, last_id = (cursor or "").partition(":")

    def parse(raw: Any) -> tuple[list[Job], str | None]:
        page, hashes = raw
        jobs = [Job.from_hash(_pairs(h)) for h in hashes if h]
        more = len(page) // 2 == limit
        next_cursor = f"{page[-1]}:{page[-2]}" if more and page else None
        return jobs, next_cursor

    return Call(
        Lua.JOBS_LIST,
        [keys.state_key(queue, state)],
        [limit, score, last_id, int(state in NEWEST_FIRST)],
        parse,
    )


#: Ids a search call looks at, at most: bounds its time whatever the registry's size.
SEARCH_BUDGET = 5000


def search_jobs(
    limit: int,
    cursor: str | None = None,
    *,
    queue: str = "",
    state: str = "",
    prefix: str = "",
    actor: str = "",
) -> Call[tuple[list[Job], str | None]]:
    """Newest jobs first, filtered; the cursor continues after the last id scanned (None at the end)."""

    def parse(raw: Any) -> tuple[list[Job], str | None]:
        hashes, last = raw
        return [Job.from_hash(_pairs(h)) for h in hashes if h], (str(last) or None)

    return Call(
        Lua.JOBS_SEARCH,
        [keys.JOBS_INDEX],
        [limit, cursor or "", queue, state, prefix, actor, SEARCH_BUDGET],
        parse,
    )


def counts(queues: Sequence[str]) -> Call[dict[str, dict[str, int]]]:
    """Jobs per queue and state (the counts of :func:`counts_at`, without its seq)."""
    at = counts_at(queues)
    return Call(at.script, at.keys, at.args, lambda raw: at.parse(raw).counts)


@dataclass(frozen=True, slots=True)
class CountsAt:
    """Counts and paused queues as of event ``seq``."""

    seq: int
    paused: list[str]
    counts: dict[str, dict[str, int]]


def counts_at(queues: Sequence[str]) -> Call[CountsAt]:
    """Counts, paused queues and the last event seq, atomically (a snapshot's base)."""
    pairs = [(q, s) for q in queues for s in JobState]

    def parse(raw: Any) -> CountsAt:
        seq, paused, flat = raw
        counts: dict[str, dict[str, int]] = {q: {} for q in queues}
        for (queue, state), n in zip(pairs, flat, strict=True):
            counts[queue][state.value] = int(n)
        return CountsAt(int(seq), sorted(paused), counts)

    return Call(Lua.SNAPSHOT_COUNTS, [keys.PAUSED, *(keys.state_key(q, s) for q, s in pairs)], [], parse)


def _pairs(flat: list[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))
