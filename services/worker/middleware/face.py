"""Starts and stops the face runtime's gallery-event listener with the worker."""

from __future__ import annotations

import dramatiq
from dramatiq.middleware import Middleware

from services.worker.face.runtime import FaceRuntime
from shared.face_jobs import FACE_QUEUE


class FaceLifecycle(Middleware):
    def __init__(self, runtime: FaceRuntime) -> None:
        self.runtime = runtime
        #: Whether this worker consumes the face queue; decided at boot, before any thread starts.
        self.active = False

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        # A worker limited to other queues (``--queues``, or a process whose actors are all
        # elsewhere) never runs a face job: building each thread's models would cost it
        # ~0.3 s of held GIL per thread at boot (issue 9, bench/noop_throughput.py).
        self.active = FACE_QUEUE in (worker.consumer_whitelist or broker.get_declared_queues())

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if self.active:
            self.runtime.listen()

    def after_worker_thread_boot(self, broker: dramatiq.Broker, thread: object) -> None:
        # Each thread builds its own cv2 objects; doing it now keeps the first job's latency honest.
        if self.active:
            self.runtime.engine.warm_up()

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self.runtime.close()
