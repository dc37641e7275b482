"""Canary actors of the ``diagnostics`` queue: deployment checks and benchmark load."""

from __future__ import annotations

import time

import dramatiq

from services.worker.progress import report_progress
from shared.catalog import CATALOG

#: Progress reports a ``sleep`` job makes over its run.
SLEEP_PROGRESS_STEPS = 10


class CanaryFailure(Exception):
    """Raised on purpose by the ``fail`` canary."""


@dramatiq.actor(actor_name="noop", queue_name=CATALOG["noop"].queue, **CATALOG["noop"].options)
def noop() -> None:
    """Do nothing: what is left of a job's time is facequeue's and Dramatiq's overhead."""


@dramatiq.actor(actor_name="sleep", queue_name=CATALOG["sleep"].queue, **CATALOG["sleep"].options)
def sleep(seconds: float) -> dict[str, float]:
    """Sleep in steps, reporting progress after each."""
    step = seconds / SLEEP_PROGRESS_STEPS
    for i in range(1, SLEEP_PROGRESS_STEPS + 1):
        time.sleep(step)
        report_progress(100 * i / SLEEP_PROGRESS_STEPS, "sleeping")
    return {"slept": seconds}


@dramatiq.actor(actor_name="fail", queue_name=CATALOG["fail"].queue, **CATALOG["fail"].options)
def fail(message: str = "canary failure", kind: str = "canary") -> None:
    """Raise, so retries with backoff, the failed state and failure groups can be exercised."""
    if kind == "value":
        _value_error(message)
    raise FAILURE_KINDS.get(kind, CanaryFailure)(message)


def _value_error(message: str) -> None:
    """A failure raised one frame deeper: another cause, even if the type matched."""
    raise ValueError(message)


#: Exceptions the ``fail`` canary raises by ``kind`` (each its own failure group).
FAILURE_KINDS: dict[str, type[Exception]] = {
    "canary": CanaryFailure,
    "key": KeyError,
    "timeout": TimeoutError,
    "runtime": RuntimeError,
}
