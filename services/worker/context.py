"""What the broker, middleware and actors of one worker process share."""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from services.worker.runs import Runs
from shared.config import Settings
from shared.metrics import WorkerMetrics
from shared.registry import Registry

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
