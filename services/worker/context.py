"""What the broker, middleware and actors of one worker process share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from services.worker.runs import Runs
from shared.config import Settings
from shared.metrics import WorkerMetrics
from shared.registry import Registry

if TYPE_CHECKING:
    from services.worker.face.runtime import FaceRuntime


@dataclass(frozen=True, slots=True)
class WorkerContext:
    """One per worker process, built by ``wiring.build_broker``."""

    settings: Settings
    registry: Registry
    runs: Runs
    metrics: WorkerMetrics
    #: Also Dramatiq's broker id, so the reaper finds this process's ack sets.
    worker_id: str
    #: Models and indexes of the face actors; None when the process does not consume their queue.
    face: FaceRuntime | None = None
