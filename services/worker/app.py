"""The module the ``dramatiq`` CLI loads in each worker process (``services.worker.app:broker``).

Importing it is a worker process's start-up: it reads settings, configures
logging and metrics, builds the broker and registers the actors.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket

import dramatiq
from dramatiq.middleware import default_middleware
from dramatiq.middleware.prometheus import Prometheus
from prometheus_client import CollectorRegistry

from services.worker.broker import FacequeueBroker
from services.worker.middleware import JobStateMiddleware, WorkerHeartbeat
from services.worker.runs import Runs
from shared.catalog import CATALOG
from shared.config import Settings
from shared.logging import configure_logging
from shared.metrics import WorkerMetrics
from shared.registry import Registry


class _NoResultsWarning(logging.Filter):
    """facequeue stores results itself; Dramatiq's hint about its Results middleware is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Results middleware" not in record.getMessage()


def new_worker_id() -> str:
    """``<host>-<pid>-<random>``: readable in the dashboard, unique across restarts."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


def build_broker(settings: Settings) -> FacequeueBroker:
    """Wire one worker process: registry, middleware and broker."""
    worker_id = new_worker_id()
    registry = Registry(settings)
    runs = Runs()
    metrics = WorkerMetrics(CollectorRegistry())
    deps = (settings, registry, runs, metrics)
    # JobStateMiddleware first, so no other middleware can skip a job before it is marked active.
    middleware = [
        JobStateMiddleware(*deps, worker_id=worker_id),
        *(m() for m in default_middleware),
        Prometheus(),
        WorkerHeartbeat(*deps, worker_id=worker_id),
    ]
    for mw in middleware:
        if type(mw).__name__ == "Retries":
            mw.min_backoff = settings.retry_min_backoff_ms
            mw.max_backoff = settings.retry_max_backoff_ms
    return FacequeueBroker(*deps, worker_id=worker_id, middleware=middleware)


settings = Settings.from_env()
configure_logging(settings, "worker")
logging.getLogger("dramatiq.worker.WorkerThread").addFilter(_NoResultsWarning())
broker = build_broker(settings)
dramatiq.set_broker(broker)

from services.worker.actors import diagnostics  # noqa: E402,F401  (registers actors on the broker)

_missing = set(CATALOG) - set(broker.actors)
if _missing:
    raise RuntimeError(f"catalog actors without an implementation: {sorted(_missing)}")
