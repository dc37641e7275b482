"""Runtime metrics of a worker process and the series it knows before its first job.

A worker group's exposition server reads Prometheus' multiprocess files only, where the process
and GC collectors of the HTTP services do not reach: each process samples itself into those files
from a daemon thread. Zero series for the queues and actors it consumes (its own and Dramatiq's
Prometheus middleware's) make a fresh group's panels show zeros, not "No data" (issue 19).
"""

from __future__ import annotations

import threading
from typing import Any

import dramatiq
from dramatiq.middleware.prometheus import Prometheus
from prometheus_client import CollectorRegistry

from shared.logging import get_logger
from shared.metrics import GroupRuntimeMetrics, WorkerMetrics

log = get_logger(__name__)

#: Dramatiq Prometheus middleware attributes labelled (queue_name, actor_name).
_DRAMATIQ_METRICS = (
    "total_messages",
    "total_errored_messages",
    "total_retried_messages",
    "total_rejected_messages",
    "inprogress_messages",
    "message_durations",
)


class RuntimeMetrics(dramatiq.Middleware):
    """Samples process and Python figures every few seconds; pre-initialises known label values."""

    #: Seconds between samples: several per Prometheus scrape interval (15 s).
    SAMPLE_INTERVAL_S = 5.0

    def __init__(self, metrics: WorkerMetrics) -> None:
        self.metrics = metrics
        self.runtime: GroupRuntimeMetrics | None = None
        self._stop = threading.Event()

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        # Registered only for the exposition's sake: in multiprocess mode values live in files.
        self.runtime = GroupRuntimeMetrics(CollectorRegistry())
        self.runtime.sample()

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._preinitialise(broker, worker.consumer_whitelist)
        threading.Thread(target=self._run, name="facequeue-runtime-metrics", daemon=True).start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.SAMPLE_INTERVAL_S):
            try:
                if self.runtime is not None:
                    self.runtime.sample()
            except Exception as exc:  # a metrics hiccup must never stop the worker
                log.warning("runtime metrics sample failed", error=repr(exc))

    def _preinitialise(self, broker: dramatiq.Broker, queues: set[str] | None) -> None:
        actors = [
            (actor.queue_name, actor.actor_name)
            for actor in (broker.get_actor(name) for name in broker.get_declared_actors())
            if queues is None or actor.queue_name in queues
        ]
        self.metrics.preinitialise(actors)
        for middleware in broker.middleware:
            if isinstance(middleware, Prometheus):
                for attribute in _DRAMATIQ_METRICS:
                    metric: Any = getattr(middleware, attribute, None)
                    for queue, actor in actors:
                        if metric is not None:
                            metric.labels(queue, actor)
