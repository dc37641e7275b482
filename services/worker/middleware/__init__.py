"""Dramatiq middleware of facequeue workers, one class per module."""

from services.worker.middleware.face import FaceLifecycle
from services.worker.middleware.heartbeat import WorkerHeartbeat
from services.worker.middleware.job_state import JobStateMiddleware
from services.worker.middleware.runtime import RuntimeMetrics
from services.worker.middleware.tracing import JobTracing

__all__ = ["FaceLifecycle", "JobStateMiddleware", "JobTracing", "RuntimeMetrics", "WorkerHeartbeat"]
