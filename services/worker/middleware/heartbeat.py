"""Registers the worker process and keeps it alive in ``fq:workers`` from a thread.

Each beat also reaps peers whose beat is older than ``worker_dead_s``:
any live worker may recover a dead one (workers_reap.lua is idempotent and
re-checks the beat), so recovery does not wait for the monitor.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import dramatiq
import redis
from dramatiq.middleware import Middleware

from services.worker.context import WorkerContext
from services.worker.reconcile import AckReconciler, RunReconciler
from shared import catalog, worker_calls
from shared.errors import FacequeueError
from shared.logging import get_logger
from shared.outage import ReapGrace

if TYPE_CHECKING:
    from services.worker.broker import FacequeueBroker

log = get_logger(__name__)


class WorkerHeartbeat(Middleware):
    """Writes ``fq:worker:<id>`` at boot and every ``heartbeat_interval_s``."""

    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        self.queues: list[str] = []
        self.threads = 0
        self.started_ms = 0
        self._stop = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.grace = ReapGrace(ctx.settings.worker_dead_s)
        self.reconciler: AckReconciler | None = None
        self.runs_reconciler: RunReconciler | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        # Only FacequeueBroker installs this middleware.
        ours: FacequeueBroker = broker  # type: ignore[assignment]
        self.queues = sorted(worker.consumer_whitelist or broker.get_declared_queues())
        self.reconciler = AckReconciler(ours)
        self.runs_reconciler = RunReconciler(ours)
        self.threads = worker.worker_threads
        self.started_ms = int(time.time() * 1000)
        self.beat()
        log.info("worker registered", worker=self.ctx.worker_id, queues=self.queues)
        self._thread = threading.Thread(target=self.run, name="facequeue-heartbeat", daemon=True)
        self._thread.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.ctx.settings.heartbeat_interval_s + 1)

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        # A clean exit reaps itself at once: jobs it still held go back to waiting.
        try:
            self.ctx.registry.run(
                worker_calls.reap_worker(
                    self.ctx.worker_id,
                    self._all_queues(),
                    0,
                    max_losses=self.ctx.settings.max_worker_losses,
                    forget=True,
                )
            )
        except FacequeueError:
            log.warning("could not deregister worker", worker=self.ctx.worker_id)

    def run(self) -> None:
        """The heartbeat loop: beat, then reap dead peers, every interval."""
        while not self._stop.wait(self.ctx.settings.heartbeat_interval_s):
            try:
                now_ms = self.beat()
                self.grace.answered()
                if self.grace.may_reap():
                    self.reap(now_ms)
                if self.reconciler is not None:
                    self.reconciler.check(self.queues)
                if self.runs_reconciler is not None:
                    self.runs_reconciler.check(self.queues)
            except (FacequeueError, redis.RedisError):
                self.grace.failed()
                self.ctx.metrics.redis_errors.labels("heartbeat").inc()
                log.warning("heartbeat failed", worker=self.ctx.worker_id)

    def beat(self) -> int:
        """Refresh the registration; returns the Redis clock (ms). Drains if an operator asked."""
        jobs = self.ctx.runs.job_ids()
        now_ms, stop = self.ctx.registry.run(
            worker_calls.worker_beat(
                self.ctx.worker_id,
                {
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                    "queues": ",".join(self.queues),
                    "processes": self.ctx.settings.worker_processes,
                    "threads": self.threads,
                    "started_ms": self.started_ms,
                    "current_jobs": ",".join(jobs),
                    "active": len(jobs),
                    "processed": self.ctx.runs.processed,
                    "failed": self.ctx.runs.failed,
                },
            )
        )
        self.ctx.metrics.heartbeats.inc()
        if stop and not self._stopping:
            self._stopping = True
            request_shutdown()
        return now_ms

    def reap(self, now_ms: int) -> int:
        """Recover every worker whose beat is older than the dead-after limit."""
        reaped = self.ctx.registry.reap_dead(self._all_queues(), now_ms)
        for worker_id, count in reaped.items():
            log.warning("dead worker reaped", dead_worker=worker_id, requeued=count)
        self.ctx.metrics.reaped.inc(sum(reaped.values()))
        return sum(reaped.values())

    def _all_queues(self) -> list[str]:
        return sorted(set(self.ctx.registry.queues()) | set(catalog.queues()))


def request_shutdown() -> None:
    """Drain and exit as on SIGTERM.

    Dramatiq's master treats one child's exit as fatal and stops the others,
    so the signal goes to the master: the whole group drains cleanly (running
    jobs finish, prefetched ones go back to Dramatiq's list).
    """
    parent = os.getppid()
    try:
        cmdline = Path(f"/proc/{parent}/cmdline").read_bytes()
    except OSError:
        cmdline = b""
    target = parent if b"dramatiq" in cmdline else os.getpid()
    log.warning("operator asked this worker to stop: draining", signalled_pid=target)
    os.kill(target, signal.SIGTERM)
