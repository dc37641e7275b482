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
def fail(message: str = "canary failure") -> None:
    """Raise, so retries with backoff and the failed state can be exercised."""
    raise CanaryFailure(message)
