"""What the broker, middleware and actors of one worker process share."""

from __future__ import annotations

import os
import secrets
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

from services.worker.runs import Runs
from shared.config import Settings
from shared.errors import FacequeueError, RedisUnavailable
from shared.logging import get_logger
from shared.metrics import WorkerMetrics
from shared.registry import Registry

log = get_logger(__name__)

if TYPE_CHECKING:
    from services.worker.face.runtime import FaceRuntime


@dataclass(frozen=True, slots=True)
class WorkerContext:
    """One per worker process (or producer), built by ``create`` for each FacequeueBroker."""

    settings: Settings
    registry: Registry
    runs: Runs
    metrics: WorkerMetrics
    #: Also Dramatiq's broker id, so the reaper finds this process's ack sets.
    worker_id: str
    #: Models and indexes of the face actors; None when the process does not consume their queue.
    face: FaceRuntime | None = None

    def record(self, operation: str, call: Any) -> bool:
        """Record a run's outcome (or retry), waiting out a Redis outage: a dropped outcome
        would leave the job active under a live worker until the reconciler notices, or turn
        a job with retries left into a permanent failure."""
        deadline = time.monotonic() + self.settings.outcome_retry_s
        delay = 0.05
        while True:
            try:
                return bool(self.registry.run(call))
            except RedisUnavailable as exc:
                self.metrics.redis_errors.labels(operation).inc()
                if time.monotonic() + delay > deadline:
                    log.error("gave up recording job outcome; the job will be recovered", operation=operation)
                    return False
                log.warning("Redis unavailable; retrying job outcome", operation=operation, error=str(exc))
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
            except FacequeueError:
                self.metrics.redis_errors.labels(operation).inc()
                log.exception("could not record job outcome", operation=operation)
                return False

    @classmethod
    def create(
        cls, settings: Settings, *, registry: Registry | None = None, face: FaceRuntime | None = None
    ) -> WorkerContext:
        return cls(
            settings,
            registry or Registry(settings),
            Runs(),
            WorkerMetrics(CollectorRegistry()),
            new_worker_id(),
            face,
        )


def new_worker_id() -> str:
    """``<host>-<pid>-<random>``: readable in the dashboard, unique across restarts."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"
