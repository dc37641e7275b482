"""Where the end of every run is recorded: the one module that writes a job's outcome.

Dramatiq settles a message in three places, and facequeue records the outcome in each,
always through this module (a reader looking for "where does a job become failed,
completed or delayed for a retry" finds all of it here):

1. **Retried** — Dramatiq's Retries middleware calls ``broker.enqueue(message, delay=…)``
   from the run's own thread: :func:`record_retry` moves the job ``active -> delayed``
   with the options as the middleware left them.
2. **Completed with the ack** — the consumer acks a successful run's copy:
   :func:`complete_at_ack` acks it and records ``completed`` in one script (one round
   trip, and no crash can fall between the ack and the outcome).
3. **Settled** — after Dramatiq's ``after_ack`` / ``after_nack`` hooks, :func:`settle`
   records what the earlier paths did not: ``failed`` (nacked, or acked with an
   exception because no Retries middleware took it), or ``completed`` when the ack
   could not be combined (another queue's consumer acked it, or the script failed).

``Run.outcome`` is how a later path learns what an earlier one recorded.
"""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq.message import Message

from services.worker.context import WorkerContext
from services.worker.runs import Outcome, Run, error_line
from shared import transitions
from shared.errors import FacequeueError, RedisUnavailable
from shared.fingerprints import fingerprint
from shared.logging import get_logger
from shared.messages import GEN_OPTION, JOB_OPTION, template_of

log = get_logger(__name__)


def record_retry(ctx: WorkerContext, run: Run, message: Message[Any], delay: int | None) -> None:
    """Path 1: the running job re-enqueued by Retries: ``active -> delayed``, options kept."""
    exc = getattr(message, "_exception", None)
    call = transitions.retry_later(
        run.job_id,
        run.queue,
        run.gen,
        ctx.worker_id,
        int(delay or 0),
        error_line(exc),
        str(message.options.get("traceback", "")),
        template_of(message),
    )
    if ctx.record("retry_later", call):
        run.outcome = Outcome.RETRIED
        ctx.metrics.transitions.labels(run.queue, "delayed").inc()


def complete_at_ack(ctx: WorkerContext, run: Run, message: Any) -> bool:
    """Path 2: ack the successful run's copy and record ``completed`` in one script.

    False when the copy was not acked here (the caller acks it as Dramatiq does, and
    :func:`settle` records the outcome). Raises Dramatiq's ConnectionClosed while Redis is
    unreachable, so Dramatiq retries the ack, and with it the completion.
    """
    call = transitions.complete(
        run.job_id,
        run.queue,
        run.gen,
        ctx.worker_id,
        run.result_json(),
        message_id=message.options["redis_message_id"],
        actor=run.actor,
    )
    try:
        recorded = ctx.registry.run(call)
    except RedisUnavailable as exc:
        raise dramatiq.errors.ConnectionClosed(exc) from exc  # type: ignore[no-untyped-call]
    except FacequeueError:
        log.exception("could not complete the job with its ack", job_id=run.job_id)
        return False
    run.outcome = Outcome.COMPLETED if recorded else Outcome.SUPERSEDED
    return True


def settle(ctx: WorkerContext, run: Run, message: Any, *, nacked: bool) -> None:
    """Path 3: after Dramatiq settled the message, record what paths 1 and 2 did not."""
    if run.outcome is Outcome.RETRIED or run.outcome is Outcome.SUPERSEDED:
        return
    if nacked or (run.outcome is None and run.exception is not None):
        _fail(ctx, run, message)
        return
    if run.outcome is Outcome.COMPLETED or ctx.record(
        "complete",
        transitions.complete(
            run.job_id, run.queue, run.gen, ctx.worker_id, run.result_json(), actor=run.actor
        ),
    ):
        ctx.metrics.child(ctx.metrics.transitions, run.queue, "completed").inc()


def _fail(ctx: WorkerContext, run: Run, message: Any) -> None:
    exc = run.exception or getattr(message, "_exception", None)
    error = error_line(exc) or "rejected"
    traceback = str(message.options.get("traceback", ""))
    # The failure group (issue 20): actor, exception type and normalised frames, or the actor's own.
    fp, exception = fingerprint(
        run.actor, exc, error_line=error, traceback_text=traceback, options=message.options
    )
    call = transitions.fail(run.job_id, run.queue, run.gen, ctx.worker_id, error, traceback, fp, exception)
    if ctx.record("fail", call):
        ctx.metrics.transitions.labels(run.queue, "failed").inc()


def record_unknown_actor(ctx: WorkerContext, message: Any) -> None:
    """A copy this worker cannot run (no such actor here): offered again later, failed after a grace."""
    job_id = message.options.get(JOB_OPTION)
    if job_id is None:
        return
    error = f"no worker consuming {message.queue_name!r} defines actor {message.actor_name!r}"
    call = transitions.unknown_actor(
        job_id,
        message.queue_name,
        int(message.options.get(GEN_OPTION, -1)),
        ctx.worker_id,
        error,
        int(ctx.settings.unknown_actor_grace_s * 1000),
        int(ctx.settings.unknown_actor_recheck_s * 1000),
    )
    try:
        outcome = ctx.registry.run(call)
    except FacequeueError:
        # The dispatch script's orphan check offers the job again once Redis answers.
        log.exception("could not record an unknown actor", job_id=job_id)
        return
    log.warning("job for an actor this worker does not define", job_id=job_id, outcome=outcome)
