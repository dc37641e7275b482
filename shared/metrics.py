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


class ReplicationMetrics:
    """Changes that fewer replicas than ``FQ_REDIS_MIN_REPLICAS_ACK`` confirmed in time (issue 17)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = CollectorRegistry() if registry is None else registry
        self.wait_timeouts = Counter(
            "facequeue_redis_wait_timeouts_total",
            "Scripts whose WAIT for replicas timed out (the change may be lost by a failover).",
            ["script"],
            registry=registry,
        )


class MonitorMetrics:
    """Queue health and worker fleet, as an autoscaler and the alerts read them."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = REGISTRY if registry is None else registry
        self.jobs = Gauge(
            "facequeue_queue_jobs", "Jobs per queue and state.", ["queue", "state"], registry=registry
        )
        self.oldest_waiting = Gauge(
            "facequeue_queue_oldest_waiting_seconds",
            "Age of the oldest waiting job (0 when none).",
            ["queue"],
            registry=registry,
        )
        self.throughput = Gauge(
            "facequeue_queue_throughput_per_second",
            "Jobs finished per second over the last minute.",
            ["queue", "outcome"],
            registry=registry,
        )
        self.drain = Gauge(
            "facequeue_queue_drain_seconds",
            "Estimated time to run the waiting backlog at the current throughput (+Inf when stalled).",
            ["queue"],
            registry=registry,
        )
        self.workers = Gauge(
            "facequeue_workers", "Worker processes by status.", ["status"], registry=registry
        )
        self.slots = Gauge(
            "facequeue_worker_slots",
            "Worker threads of live workers, busy or in total.",
            ["kind"],
            registry=registry,
        )
        self.ticks = Counter("facequeue_monitor_ticks_total", "Monitor ticks completed.", registry=registry)
        self.tick_errors = Counter(
            "facequeue_monitor_tick_errors_total", "Ticks that failed.", registry=registry
        )
        self.reaped = Counter(
            "facequeue_monitor_reaped_workers_total",
            "Dead workers this replica recovered.",
            registry=registry,
        )
        self.requeued = Counter(
            "facequeue_monitor_requeued_jobs_total",
            "Active jobs of dead workers moved back to waiting.",
            registry=registry,
        )
        self.released = Counter(
            "facequeue_monitor_released_jobs_total", "Delayed jobs this replica released.", registry=registry
        )
        self.worker_events = Counter(
            "facequeue_monitor_workers_events_total",
            "workers events published.",
            ["reason"],
            registry=registry,
        )
        self.redis_memory = Gauge(
            "facequeue_redis_memory_bytes",
            "Redis memory: used, and the maxmemory budget (0: none).",
            ["kind"],
            registry=registry,
        )
        self.item_bytes = Gauge(
            "facequeue_redis_item_bytes",
            "Sampled Redis bytes of one job record or one event.",
            ["item"],
            registry=registry,
        )
        self.items = Gauge(
            "facequeue_redis_items", "Job records and events held in Redis.", ["item"], registry=registry
        )
        self.trimmed = Counter(
            "facequeue_monitor_trimmed_jobs_total",
            "Finished jobs removed by their queue's retention.",
            ["queue", "state"],
            registry=registry,
        )


class StreamMetrics:
    """The gateway's connections and the events through them."""

    #: Delivery lag buckets, seconds (the target is < 50 ms).
    LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = REGISTRY if registry is None else registry
        self.clients = Gauge(
            "facequeue_stream_clients_connected", "Clients connected now.", ["transport"], registry=registry
        )
        self.connections = Counter(
            "facequeue_stream_connections_total", "Connections accepted.", ["transport"], registry=registry
        )
        self.disconnects = Counter(
            "facequeue_stream_disconnects_total",
            "Connections ended, by reason.",
            ["reason"],
            registry=registry,
        )
        self.received = Counter(
            "facequeue_stream_events_received_total", "Events read from Redis.", ["type"], registry=registry
        )
        self.sent = Counter(
            "facequeue_stream_events_sent_total", "Frames written to clients.", ["type"], registry=registry
        )
        self.lag = Histogram(
            "facequeue_stream_delivery_lag_seconds",
            "Event publish time to write to a client.",
            buckets=self.LAG_BUCKETS,
            registry=registry,
        )
        self.resumes = Counter(
            "facequeue_stream_resumes_total",
            "Reconnections with Last-Event-ID, by result.",
            ["result"],
            registry=registry,
        )
        self.slow_drops = Counter(
            "facequeue_stream_slow_client_drops_total", "Clients dropped for a full queue.", registry=registry
        )
        self.refused = Counter(
            "facequeue_stream_refused_connections_total",
            "Connections refused over the per-address cap (issue 16).",
            registry=registry,
        )
        self.redis_reconnects = Counter(
            "facequeue_stream_redis_reconnects_total",
            "Times the Redis subscription was re-established.",
            registry=registry,
        )
        self.heals = Counter(
            "facequeue_stream_heals_total",
            "Sequence gaps healed from the events stream, by result.",
            ["result"],
            registry=registry,
        )


class ApiMetrics:
    """Requests by route and status, their latency, and what admin actions did."""

    LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = REGISTRY if registry is None else registry
        self.requests = Counter(
            "facequeue_api_requests_total",
            "Requests answered.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "facequeue_api_request_duration_seconds",
            "Time to answer a request.",
            ["route", "method"],
            buckets=self.LATENCY_BUCKETS,
            registry=registry,
        )
        self.actions = Counter(
            "facequeue_api_admin_actions_total",
            "Admin actions that changed something.",
            ["action"],
            registry=registry,
        )
        self.jobs_affected = Counter(
            "facequeue_api_jobs_affected_total",
            "Jobs changed by admin actions (each change publishes one event).",
            ["action"],
            registry=registry,
        )
