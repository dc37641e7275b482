"""Submitting jobs: the producer's entry point (``facequeue submit`` and Python)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict, Unpack

from opentelemetry import trace

from shared import catalog, tracing, transitions
from shared.config import Settings
from shared.errors import InvalidArguments, JobExists
from shared.jobs import new_job_id
from shared.logging import get_logger
from shared.messages import message_template
from shared.registry import AsyncRegistry, Registry
from shared.scripts import Call
from shared.states import DEFAULT_PRIORITY, MAX_PRIORITY

log = get_logger(__name__)

#: Longest delay a job may ask for, in ms (30 days).
MAX_DELAY_MS = 30 * 86_400_000
#: Most retries a job may ask for.
MAX_RETRIES = 100


class SubmitOptions(TypedDict, total=False):
    """How a job runs, besides its actor and arguments."""

    #: Checked against the actor's queue when given.
    queue: str | None
    #: Lower runs first.
    priority: int
    #: Run no sooner than this many ms from now.
    delay_ms: int
    #: Retries after a failure; the settings' default when None.
    max_retries: int | None


def submit_call(
    actor: str,
    args: Sequence[Any] | Mapping[str, Any] = (),
    *,
    settings: Settings,
    job_id: str | None = None,
    **options: Unpack[SubmitOptions],
) -> tuple[str, Call[str]]:
    """Validate a submission; returns the new id and the call that creates the job."""
    spec = catalog.lookup(actor, options.get("queue"))
    bound = spec.bind(args)
    priority = options.get("priority", DEFAULT_PRIORITY)
    delay_ms = options.get("delay_ms", 0)
    asked = options.get("max_retries")
    check_int("priority", priority, 0, MAX_PRIORITY)
    check_int("delay_ms", delay_ms, 0, MAX_DELAY_MS)
    if asked is not None:
        check_int("max_retries", asked, 0, MAX_RETRIES)
    job_id = job_id or new_job_id()
    trace.get_current_span().set_attribute(tracing.JOB_ATTRIBUTE, job_id)
    # Only a max_retries the caller names becomes a message option (it then beats the actor's,
    # as in Dramatiq); otherwise the actor's own applies, and the settings' default only
    # where neither sets one (the worker's Retries middleware).
    template = message_template(
        job_id=job_id,
        queue=spec.queue,
        actor=spec.name,
        args=bound,
        # The submitter's trace context (none unless tracing is on) goes with the job: the worker
        # continues its trace (shared/tracing.py).
        options={**tracing.context_options(), **({} if asked is None else {"max_retries": asked})},
        created_ms=int(time.time() * 1000),
    )
    return job_id, transitions.submit(
        job_id=job_id,
        queue=spec.queue,
        actor=spec.name,
        args=bound,
        priority=priority,
        max_retries=settings.default_max_retries if asked is None else asked,
        delay_ms=delay_ms,
        template=template,
    )


def submit(
    registry: Registry,
    actor: str,
    args: Sequence[Any] | Mapping[str, Any] = (),
    **options: Unpack[SubmitOptions],
) -> str:
    """Submit a job from a synchronous producer; returns its id."""
    job_id, call = submit_call(actor, args, settings=registry.settings, **options)
    try:
        registry.run(call)
    except JobExists:  # the id was made here: only our own earlier attempt can have taken it
        _landed(job_id)
    return job_id


async def submit_async(
    registry: AsyncRegistry,
    actor: str,
    args: Sequence[Any] | Mapping[str, Any] = (),
    **options: Unpack[SubmitOptions],
) -> str:
    """Submit a job from an asyncio producer; returns its id."""
    job_id, call = submit_call(actor, args, settings=registry.settings, **options)
    try:
        await registry.run(call)
    except JobExists:  # the id was made here: only our own earlier attempt can have taken it
        _landed(job_id)
    return job_id


def _landed(job_id: str) -> None:
    """A fresh id already taken: the client's retry resent a submission whose reply was lost.

    redis-py retries a command whose connection broke after Redis ran it (a failover mid-reply,
    issue 17); the retry finds the job the first attempt made. It is on the current primary
    (which, after a failover, had it replicated), so the submission stands.
    """
    log.info("submission's reply was lost; the retry found the job made", job_id=job_id)


def check_int(name: str, value: Any, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidArguments(f"{name}: expected an integer from {low} to {high}, got {value!r}")
