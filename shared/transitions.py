"""Calls of a job's life on a worker: submit, dispatch, start, progress and the outcome
(complete, fail, retry later, orphaned, unknown actor).

Each function returns a :class:`~shared.scripts.Call`, free of I/O; ``Registry.run`` (sync)
and ``AsyncRegistry.run`` execute it, so workers, the monitor and the API share one
definition of each transition. Operators' actions are in shared/actions.py, the worker
registry's calls in shared/worker_calls.py, reads in shared/reads.py.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

from shared import keys, search
from shared.messages import message_template
from shared.scripts import Call, Lua, as_bool, as_text
from shared.states import JobState

#: Delayed jobs released per dispatch call, so one call never blocks Redis long.
RELEASE_BATCH = 500
#: Milliseconds after which a dispatched job whose Dramatiq copy is gone is dispatched again.
ORPHAN_AFTER_MS = 10_000


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
            keys.SEARCH_INDEX,
        ],
        [
            job_id,
            queue,
            actor,
            priority,
            json.dumps(list(args)),
            max_retries,
            delay_ms,
            template,
            *search.arg_entries(actor, args),
        ],
        as_text,
    )


class Dispatched(NamedTuple):
    """What one dispatch call did."""

    released: int
    sent: int
    paused: bool
    #: Milliseconds the jobs it handed out had been held back by the queue's limits (issue 21).
    limited_wait_ms: int = 0
    #: Whether a limit held back a job this call would otherwise have handed out.
    limited: bool = False
    #: The Dramatiq messages fetched by the same call (``fetch``): bodies, None for a lost one.
    messages: tuple[bytes | None, ...] = ()


def dispatch(queue: str, target: int, *, fetch: int = 0, worker: str = "") -> Call[Dispatched]:
    """Release due delayed jobs and top Dramatiq's list up to ``target`` messages, within its limits.

    With ``fetch`` > 0, also fetch up to that many messages for Dramatiq broker ``worker``, as
    Dramatiq's own fetch does (heartbeat, ack set, bodies): a worker's consumer needs one round
    trip per fetch instead of two (issue 25). A paused queue fetches nothing.
    """

    def parse(raw: Any) -> Dispatched:
        bodies = tuple(None if b is None else b.encode() if isinstance(b, str) else b for b in raw[5:])
        return Dispatched(int(raw[0]), int(raw[1]), bool(raw[2]), int(raw[3]), bool(raw[4]), bodies)

    return Call(
        Lua.JOBS_DISPATCH,
        [
            keys.state_key(queue, JobState.WAITING),
            keys.state_key(queue, JobState.DELAYED),
            keys.dispatched_key(queue),
            keys.PAUSED,
            keys.dramatiq_queue_key(queue),
            keys.dramatiq_messages_key(queue),
            keys.limits_key(queue),
            keys.handouts_key(queue),
            keys.state_key(queue, JobState.ACTIVE),
            keys.limited_wait_key(queue),
            keys.dramatiq_acks_key(worker, queue),
            keys.DRAMATIQ_HEARTBEATS,
        ],
        [queue, target, RELEASE_BATCH, ORPHAN_AFTER_MS, fetch, worker, int(time.time() * 1000)],
        parse,
    )


def start(job_id: str, queue: str, gen: int, worker: str, max_retries: int | None = None) -> Call[str]:
    """waiting -> active for the copy a worker is about to run.

    ``max_retries``: the retries that apply to this run (message, actor or the
    Retries middleware's default, as Dramatiq decides), recorded on the job.
    A fresh token per call makes the client's resend after a lost reply (Redis
    died between running the script and answering) answer ``started`` again,
    rather than ``stale``, which would skip the run and requeue the job.
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
        [job_id, queue, gen, worker, "" if max_retries is None else max_retries, secrets.token_hex(8)],
        as_text,
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
        as_text,
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
        as_bool,
    )


def complete(
    job_id: str,
    queue: str,
    gen: int,
    worker: str,
    result_json: str,
    *,
    message_id: str = "",
    actor: str = "",
) -> Call[bool]:
    """active -> completed (the monitor trims completed jobs by each queue's retention).

    With ``message_id`` (the Dramatiq copy's redis message id) the same script acks
    that copy from ``worker``'s ack set, as Dramatiq's ack would. With ``actor``, the
    catalog's searchable result values are indexed for job search.
    """
    entries = search.result_entries(actor, json.loads(result_json)) if actor else []
    return Call(
        Lua.JOB_COMPLETE,
        [
            keys.job_key(job_id),
            keys.state_key(queue, JobState.ACTIVE),
            keys.state_key(queue, JobState.COMPLETED),
            keys.dramatiq_acks_key(worker, queue),
            keys.dramatiq_messages_key(queue),
            keys.SEARCH_INDEX,
        ],
        [job_id, queue, gen, worker, result_json, message_id, *entries],
        as_bool,
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
            keys.SEARCH_INDEX,
        ],
        [job_id, queue, gen, worker, error, traceback, fingerprint, exception, *search.error_entries(error)],
        as_bool,
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
        as_bool,
    )


def progress(job_id: str, queue: str, gen: int, worker: str, percent: float, stage: str) -> Call[bool]:
    """Record a running job's progress and announce it."""
    return Call(
        Lua.JOB_PROGRESS, [keys.job_key(job_id)], [job_id, queue, gen, worker, percent, stage], as_bool
    )
