"""Assembly of one worker process: registry, middleware and broker.

Kept apart from ``app.py`` (which the dramatiq CLI imports for its side
effects) so benchmarks and tests can build a broker in-process.
"""

from __future__ import annotations

import logging
from typing import Any

from dramatiq.middleware import Retries, default_middleware
from dramatiq.middleware.prometheus import Prometheus

from services.worker.broker import FacequeueBroker
from services.worker.context import WorkerContext
from services.worker.face.runtime import FaceRuntime
from services.worker.middleware import FaceLifecycle, JobTracing, RuntimeMetrics
from shared import catalog, tracing
from shared.config import Settings
from shared.face_jobs import FACE_QUEUE


class NoResultsWarning(logging.Filter):
    """facequeue stores results itself; Dramatiq's hint about its Results middleware is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Results middleware" not in record.getMessage()


def build_broker(settings: Settings, *, exporter: bool = True) -> FacequeueBroker:
    """Wire one worker process; ``exporter`` adds Dramatiq's Prometheus middleware (CLI runs only)."""
    consumes_faces = FACE_QUEUE in (settings.worker_queues or catalog.queues())
    ctx = WorkerContext.create(settings, face=FaceRuntime.create(settings) if consumes_faces else None)
    # The settings' default applies where neither a message nor its actor sets max_retries.
    retries = Retries(
        max_retries=settings.default_max_retries,
        min_backoff=settings.retry_min_backoff_ms,
        max_backoff=settings.retry_max_backoff_ms,
    )
    middleware: list[Any] = [
        *(retries if m is Retries else m() for m in default_middleware),
        # RuntimeMetrics after Prometheus: it pre-initialises the series Prometheus declares.
        *([Prometheus(), RuntimeMetrics(ctx.metrics)] if exporter else []),
        # Spans continue the submitter's trace; only where an OTLP endpoint is set (CLI runs).
        *([JobTracing()] if exporter and tracing.configure("worker") else []),
        *([FaceLifecycle(ctx.face)] if ctx.face is not None else []),
    ]
    return FacequeueBroker(context=ctx, middleware=middleware)
