"""Registers the worker process and keeps it alive in ``fq:workers`` from a thread.

Each beat also reaps peers whose beat is older than ``worker_dead_after_s``:
any live worker may recover a dead one (workers_reap.lua is idempotent and
re-checks the beat), so recovery does not wait for the monitor.
"""

from __future__ import annotations

import os
import socket
import threading
import time

import dramatiq
from dramatiq.middleware import Middleware

from services.worker.runs import Runs
from shared import catalog, transitions
from shared.config import Settings
from shared.errors import FacequeueError
from shared.logging import get_logger
from shared.metrics import WorkerMetrics
from shared.registry import Registry

log = get_logger(__name__)


class WorkerHeartbeat(Middleware):
    """Writes ``fq:worker:<id>`` at boot and every ``heartbeat_interval_s``."""

    def __init__(
        self, settings: Settings, registry: Registry, runs: Runs, metrics: WorkerMetrics, *, worker_id: str
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.runs = runs
        self.metrics = metrics
        self.worker_id = worker_id
        self.queues: list[str] = []
        self.threads = 0
        self.started_ms = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self.queues = sorted(worker.consumer_whitelist or broker.get_declared_queues())
        self.threads = worker.worker_threads
        self.started_ms = int(time.time() * 1000)
        self.beat()
        log.info("worker registered", worker=self.worker_id, queues=self.queues)
        self._thread = threading.Thread(target=self.run, name="facequeue-heartbeat", daemon=True)
        self._thread.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.heartbeat_interval_s + 1)

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        # A clean exit reaps itself at once: jobs it still held go back to waiting.
        try:
            self.registry.run(transitions.reap_worker(self.worker_id, self._all_queues(), 0))
        except FacequeueError:
            log.warning("could not deregister worker", worker=self.worker_id)

    def run(self) -> None:
        """The heartbeat loop: beat, then reap dead peers, every interval."""
        while not self._stop.wait(self.settings.heartbeat_interval_s):
            try:
                now_ms = self.beat()
                self.reap(now_ms)
            except FacequeueError:
                self.metrics.redis_errors.labels("heartbeat").inc()
                log.warning("heartbeat failed", worker=self.worker_id)

    def beat(self) -> int:
        """Refresh the registration; returns the Redis clock (ms)."""
        jobs = self.runs.job_ids()
        now_ms = self.registry.run(
            transitions.worker_beat(
                self.worker_id,
                {
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                    "queues": ",".join(self.queues),
                    "processes": self.settings.worker_processes,
                    "threads": self.threads,
                    "started_ms": self.started_ms,
                    "current_jobs": ",".join(jobs),
                    "active": len(jobs),
                    "processed": self.runs.processed,
                    "failed": self.runs.failed,
                },
            )
        )
        self.metrics.heartbeats.inc()
        return now_ms

    def reap(self, now_ms: int) -> int:
        """Recover every worker whose beat is older than the dead-after limit."""
        reaped = self.registry.reap_dead(self._all_queues(), now_ms)
        for worker_id, count in reaped.items():
            log.warning("dead worker reaped", dead_worker=worker_id, requeued=count)
        self.metrics.reaped.inc(sum(reaped.values()))
        return sum(reaped.values())

    def _all_queues(self) -> list[str]:
        return sorted(set(self.registry.queues()) | set(catalog.queues()))
