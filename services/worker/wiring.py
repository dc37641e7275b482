"""Assembly of one worker process: registry, middleware and broker.

Kept apart from ``app.py`` (which the dramatiq CLI imports for its side
effects) so benchmarks and tests can build a broker in-process.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from typing import Any

from dramatiq.middleware import Retries, default_middleware
from dramatiq.middleware.prometheus import Prometheus
from prometheus_client import CollectorRegistry

from services.worker.broker import FacequeueBroker
from services.worker.context import WorkerContext
from services.worker.face.runtime import FaceRuntime
from services.worker.middleware import FaceLifecycle, JobStateMiddleware, WorkerHeartbeat
from services.worker.runs import Runs
from shared import catalog
from shared.config import Settings
from shared.face_jobs import FACE_QUEUE
from shared.metrics import WorkerMetrics
from shared.registry import Registry


class NoResultsWarning(logging.Filter):
    """facequeue stores results itself; Dramatiq's hint about its Results middleware is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Results middleware" not in record.getMessage()


def new_worker_id() -> str:
    """``<host>-<pid>-<random>``: readable in the dashboard, unique across restarts."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


def build_broker(settings: Settings, *, exporter: bool = True) -> FacequeueBroker:
    """Wire one worker process; ``exporter`` adds Dramatiq's Prometheus middleware (CLI runs only)."""
    consumes_faces = FACE_QUEUE in (settings.worker_queues or catalog.queues())
    ctx = WorkerContext(
        settings,
        Registry(settings),
        Runs(),
        WorkerMetrics(CollectorRegistry()),
        new_worker_id(),
        FaceRuntime.create(settings) if consumes_faces else None,
    )
    retries = Retries(min_backoff=settings.retry_min_backoff_ms, max_backoff=settings.retry_max_backoff_ms)
    # JobStateMiddleware first, so no other middleware can skip a job before it is marked active.
    middleware: list[Any] = [
        JobStateMiddleware(ctx),
        *(retries if m is Retries else m() for m in default_middleware),
        *([Prometheus()] if exporter else []),
        WorkerHeartbeat(ctx),
        *([FaceLifecycle(ctx.face)] if ctx.face is not None else []),
    ]
    return FacequeueBroker(ctx, middleware=middleware)
