"""Starts and stops the face runtime's gallery-event listener with the worker."""

from __future__ import annotations

import dramatiq
from dramatiq.middleware import Middleware

from services.worker.face.runtime import FaceRuntime


class FaceLifecycle(Middleware):
    def __init__(self, runtime: FaceRuntime) -> None:
        self.runtime = runtime

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self.runtime.listen()

    def after_worker_thread_boot(self, broker: dramatiq.Broker, thread: object) -> None:
        # Each thread builds its own cv2 objects; doing it now keeps the first job's latency honest.
        self.runtime.engine.warm_up()

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self.runtime.close()
