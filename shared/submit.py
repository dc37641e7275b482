"""Submitting jobs: the producer's entry point (``facequeue submit`` and Python)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared import catalog, transitions
from shared.errors import InvalidArguments
from shared.jobs import new_job_id
from shared.registry import AsyncRegistry, Registry
from shared.scripts import Call
from shared.states import DEFAULT_PRIORITY, MAX_PRIORITY

#: Longest delay a job may ask for, in ms (30 days).
MAX_DELAY_MS = 30 * 86_400_000
#: Most retries a job may ask for.
MAX_RETRIES = 100


def submit_call(
    actor: str,
    args: Sequence[Any] | Mapping[str, Any] = (),
    *,
    queue: str | None = None,
    priority: int = DEFAULT_PRIORITY,
    delay_ms: int = 0,
    max_retries: int,
    job_id: str | None = None,
) -> tuple[str, Call[str]]:
    """Validate a submission; returns the new id and the call that creates the job."""
    spec = catalog.lookup(actor, queue)
    bound = spec.bind(args)
    _check_int("priority", priority, 0, MAX_PRIORITY)
    _check_int("delay_ms", delay_ms, 0, MAX_DELAY_MS)
    _check_int("max_retries", max_retries, 0, MAX_RETRIES)
    job_id = job_id or new_job_id()
    return job_id, transitions.submit(
        job_id=job_id,
        queue=spec.queue,
        actor=spec.name,
        args=bound,
        priority=priority,
        max_retries=max_retries,
        delay_ms=delay_ms,
    )


def submit(
    registry: Registry,
    actor: str,
    args: Sequence[Any] | Mapping[str, Any] = (),
    *,
    queue: str | None = None,
    priority: int = DEFAULT_PRIORITY,
    delay_ms: int = 0,
    max_retries: int | None = None,
) -> str:
    """Submit a job from a synchronous producer; returns its id."""
    retries = registry.settings.default_max_retries if max_retries is None else max_retries
    job_id, call = submit_call(
        actor, args, queue=queue, priority=priority, delay_ms=delay_ms, max_retries=retries
    )
    registry.run(call)
    return job_id


async def submit_async(
    registry: AsyncRegistry,
    actor: str,
    args: Sequence[Any] | Mapping[str, Any] = (),
    *,
    queue: str | None = None,
    priority: int = DEFAULT_PRIORITY,
    delay_ms: int = 0,
    max_retries: int | None = None,
) -> str:
    """Submit a job from an asyncio producer; returns its id."""
    retries = registry.settings.default_max_retries if max_retries is None else max_retries
    job_id, call = submit_call(
        actor, args, queue=queue, priority=priority, delay_ms=delay_ms, max_retries=retries
    )
    await registry.run(call)
    return job_id


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidArguments(f"{name}: expected an integer from {low} to {high}, got {value!r}")
