"""Prometheus metrics, declared once on an injectable registry.

Names follow ``facequeue_<subsystem>_<name>`` in base units (seconds, not ms).
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

#: Buckets of job durations, in seconds (canaries take ms, face search seconds).
JOB_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)


class WorkerMetrics:
    """What a worker process reports about the jobs it runs and its Redis traffic."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = REGISTRY if registry is None else registry
        self.transitions = Counter(
            "facequeue_worker_job_transitions_total",
            "Job transitions recorded by this worker.",
            ["queue", "to"],
            registry=registry,
        )
        self.skipped = Counter(
            "facequeue_worker_messages_skipped_total",
            "Dramatiq copies skipped as stale or because their queue is paused.",
            ["queue", "reason"],
            registry=registry,
        )
        self.duration = Histogram(
            "facequeue_job_duration_seconds",
            "Time a job's actor ran.",
            ["queue", "actor"],
            buckets=JOB_DURATION_BUCKETS,
            registry=registry,
        )
        self.active = Gauge(
            "facequeue_worker_jobs_active",
            "Jobs running now.",
            ["queue"],
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.dispatched = Counter(
            "facequeue_worker_dispatched_total",
            "Waiting jobs this worker handed to Dramatiq.",
            ["queue"],
            registry=registry,
        )
        self.released = Counter(
            "facequeue_worker_released_total",
            "Delayed jobs this worker released to waiting.",
            ["queue"],
            registry=registry,
        )
        self.redis_errors = Counter(
            "facequeue_worker_redis_errors_total",
            "Registry calls that failed on Redis.",
            ["operation"],
            registry=registry,
        )
        self.heartbeats = Counter(
            "facequeue_worker_heartbeats_total",
            "Heartbeats written.",
            registry=registry,
        )
        self.reaped = Counter(
            "facequeue_worker_reaped_jobs_total",
            "Jobs of dead workers moved back to waiting by this worker.",
            registry=registry,
        )
