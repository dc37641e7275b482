"""The module the ``dramatiq`` CLI loads in each worker process (``services.worker.app:broker``).

Importing it is a worker process's start-up: it reads settings, configures
logging and metrics, builds the broker and registers the actors.
"""

from __future__ import annotations

import logging

import dramatiq

from services.worker.wiring import NoResultsWarning, build_broker
from shared.catalog import CATALOG
from shared.config import Settings
from shared.logging import configure_logging

settings = Settings.from_env()
broker = build_broker(settings)
configure_logging(settings, "worker", worker=broker.broker_id)
logging.getLogger("dramatiq.worker.WorkerThread").addFilter(NoResultsWarning())
dramatiq.set_broker(broker)

from services.worker.actors import diagnostics, face  # noqa: E402,F401  (registers actors on the broker)

_missing = set(CATALOG) - set(broker.actors)
if _missing:
    raise RuntimeError(f"catalog actors without an implementation: {sorted(_missing)}")
