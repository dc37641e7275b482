"""Prometheus metrics, declared once on an injectable registry.

Names follow ``facequeue_<subsystem>_<name>`` in base units (seconds, not ms). Every process also
exports the standard ``process_*`` and ``python_*`` series and ``facequeue_build_info``
(:func:`register_runtime`; worker groups, whose processes share values through Prometheus'
multiprocess files, through :class:`GroupRuntimeMetrics`), and pre-initialises the label values
it knows, so a fresh deploy's panels show zeros instead of "No data".
"""

from __future__ import annotations

import gc
import importlib.metadata
import os
import platform
from collections.abc import Iterable
from typing import Any, TypeVar

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from shared.events import EventType

#: A labelled metric (Counter, Gauge, Histogram): ``WorkerMetrics.child`` returns its own kind.
M = TypeVar("M", Counter, Gauge, Histogram)

#: Request paths that are no API traffic: probes (every few seconds per pod) and scrapes would
#: swamp request rates and pull latency quantiles down.
OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
#: Environment variable holding the source revision the image was built from (deploy/Dockerfile).
REVISION_ENV = "FACEQUEUE_REVISION"
#: Job states a worker records as transitions (services/worker: job_state.py, broker.py).
WORKER_TRANSITIONS = ("active", "completed", "failed", "delayed")


def build_labels() -> tuple[str, str]:
    """(version, revision) of the running code; "unknown" where the build did not say."""
    try:
        version = importlib.metadata.version("facequeue")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return version, os.environ.get(REVISION_ENV) or "unknown"


def _build_info(registry: CollectorRegistry) -> Gauge:
    return Gauge(
        "facequeue_build_info",
        "Always 1: the version and source revision of the running code.",
        ["version", "revision"],
        multiprocess_mode="livemax",
        registry=registry,
    )


def register_runtime(registry: CollectorRegistry) -> None:
    """Process (CPU, memory, open FDs) and Python (version, GC) collectors and build_info."""
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        # The same collectors prometheus_client puts on its default registry, on this one too.
        registry.register(collector)
    _build_info(registry).labels(*build_labels()).set(1)


class GroupRuntimeMetrics:
    """``process_*``, ``python_*`` and build_info for a group of processes sharing Prometheus'
    multiprocess files: a Dramatiq worker group, or the gateway's processes on one port.

    The group's exposition reads only the multiprocess files, where collectors do not reach:
    each process samples itself instead (:meth:`sample`). Memory and FDs add up over the live
    processes, CPU seconds over all of them (a counter stays monotonic across restarts).
    """

    def __init__(self, registry: CollectorRegistry, group: str = "worker") -> None:
        self._process = ProcessCollector(registry=None)
        self._cpu_seen = 0.0
        self._gc_seen: dict[str, float] = {}
        self.resident = Gauge(
            "process_resident_memory_bytes",
            "Resident memory of the group's live processes.",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.virtual = Gauge(
            "process_virtual_memory_bytes",
            "Virtual memory of the group's live processes.",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.open_fds = Gauge(
            "process_open_fds",
            "Open file descriptors of the group's live processes.",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.max_fds = Gauge(
            "process_max_fds",
            "File descriptor limit of one process.",
            multiprocess_mode="livemin",
            registry=registry,
        )
        self.start_time = Gauge(
            "process_start_time_seconds",
            "Start time of the group's oldest live process, since the epoch.",
            multiprocess_mode="livemin",
            registry=registry,
        )
        self.cpu = Counter(
            "process_cpu_seconds_total", "User and system CPU time of the group.", registry=registry
        )
        self.processes = Gauge(
            f"facequeue_{group}_processes",
            f"Live processes of the {group} group.",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.python = Gauge(
            "python_info",
            "Python platform information.",
            ["implementation", "major", "minor", "patchlevel", "version"],
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.gc_collections = Counter(
            "python_gc_collections",
            "Garbage collections of the group's processes, by generation.",
            ["generation"],
            registry=registry,
        )
        major, minor, patch = platform.python_version_tuple()
        self.python.labels(
            platform.python_implementation(), major, minor, patch, platform.python_version()
        ).set(1)
        self.processes.set(1)
        _build_info(registry).labels(*build_labels()).set(1)

    def sample(self) -> None:
        """Copy this process's /proc figures and GC counts into the shared files."""
        values = {s.name: s.value for family in self._process.collect() for s in family.samples}
        gauges = {
            "process_resident_memory_bytes": self.resident,
            "process_virtual_memory_bytes": self.virtual,
            "process_open_fds": self.open_fds,
            "process_max_fds": self.max_fds,
            "process_start_time_seconds": self.start_time,
        }
        for name, gauge in gauges.items():
            if name in values:
                gauge.set(values[name])
        cpu = values.get("process_cpu_seconds_total", self._cpu_seen)
        self.cpu.inc(max(0.0, cpu - self._cpu_seen))
        self._cpu_seen = cpu
        for generation, stats in enumerate(gc.get_stats()):
            key, count = str(generation), float(stats["collections"])
            self.gc_collections.labels(key).inc(max(0.0, count - self._gc_seen.get(key, 0.0)))
            self._gc_seen[key] = count


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
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}

    def child(self, metric: M, *values: str) -> M:
        """``metric.labels(*values)``, remembered: a worker looks up the same few series for
        every job, and prometheus_client's lookup (label checks, a lock) costs more than the
        increment (issue 25). Children are never removed, so a remembered one stays valid."""
        key = (id(metric), values)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*values)
        return found

    def preinitialise(self, actors: Iterable[tuple[str, str]]) -> None:
        """Zero series for each (queue, actor) this process consumes, before its first job."""
        for queue, actor in actors:
            for to in WORKER_TRANSITIONS:
                self.transitions.labels(queue, to)
            self.duration.labels(queue, actor)
            self.active.labels(queue)
            self.dispatched.labels(queue)
            self.released.labels(queue)


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


class StoredCounter(Collector):
    """A counter whose total is kept in Redis (by the scripts) and read by the monitor: exported
    as a Prometheus counter (``<name>_total``), the value set to what was read. A total that
    drops (Redis lost its data) reads as a counter reset, which ``rate()`` handles."""

    def __init__(self, name: str, documentation: str, labels: list[str], registry: CollectorRegistry) -> None:
        self.name, self.documentation, self.labels = name, documentation, labels
        self.values: dict[tuple[str, ...], float] = {}
        registry.register(self)

    def set(self, labels: tuple[str, ...], total: float) -> None:
        self.values[labels] = total

    def collect(self) -> Iterable[CounterMetricFamily]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        for labels, total in sorted(dict(self.values).items()):
            family.add_metric(list(labels), total)
        yield family


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
        self.limit = Gauge(
            "facequeue_queue_limit",
            "A queue's limits (issue 21): concurrency, and rate (starts per window); absent when unlimited.",
            ["queue", "kind"],
            registry=registry,
        )
        self.limit_used = Gauge(
            "facequeue_queue_limit_used",
            "How much of a queue's limits is taken: jobs handed out or running, starts in the window.",
            ["queue", "kind"],
            registry=registry,
        )
        self.limited_wait = StoredCounter(
            "facequeue_queue_limited_wait_seconds",
            "Seconds the queue's jobs waited because of its limits (a job's wait counts at its hand-out).",
            ["queue"],
            registry,
        )
        self.schedule_firings = Counter(
            "facequeue_monitor_schedule_firings_total",
            "Schedule firings this replica made (a firing another replica made first is not counted).",
            registry=registry,
        )


class StreamMetrics:
    """The gateway's connections and the events through them."""

    #: Delivery lag buckets, seconds (the target is < 50 ms).
    LAG_BUCKETS = (
        0.001,
        0.0025,
        0.005,
        0.0075,
        0.01,
        0.015,
        0.02,
        0.025,
        0.035,
        0.05,
        0.075,
        0.1,
        0.25,
        0.5,
        1,
        2.5,
        5,
    )
    #: Label values known in advance, exported as zeros from the start.
    TRANSPORTS = ("sse", "ws")
    RESUME_RESULTS = ("replayed", "reset")
    #: Why connections end (services/stream: handlers.py, clients.py, main.py, revocation.py).
    DISCONNECT_REASONS = ("client", "slow", "drain", "session", "error")

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = REGISTRY if registry is None else registry
        self.clients = Gauge(
            "facequeue_stream_clients_connected",
            "Clients connected now.",
            ["transport"],
            multiprocess_mode="livesum",  # the gateway's processes on one port add up
            registry=registry,
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
        for transport in self.TRANSPORTS:
            self.clients.labels(transport)
            self.connections.labels(transport)
        for kind in EventType:
            self.received.labels(kind.value)
            self.sent.labels(kind.value)
        for reason in self.DISCONNECT_REASONS:
            self.disconnects.labels(reason)
        for result in self.RESUME_RESULTS:
            self.resumes.labels(result)
            self.heals.labels(result)


class ApiMetrics:
    """Requests by route and status, their latency, and what admin actions did."""

    LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
    #: Admin actions the API records (services/api: jobs.py, bulk.py, queues.py, retention.py,
    #: galleries.py), exported as zeros from the start.
    ACTIONS = (
        "retry",
        "promote",
        "priority",
        "delete",
        "operation",
        "operation_cancel",
        "restore",
        "pause",
        "resume",
        "retention",
        "forget_identity",
        "rename_identity",
        "delete_gallery",
        "limits",
        "schedule",
        "schedule_run",
    )

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

    def preinitialise(self, routes: Iterable[tuple[str, str]]) -> None:
        """Zero series for each (route template, method) the app serves, before its first request.

        Reads start counted under status 200; other statuses appear with their first answer.
        """
        for action in self.ACTIONS:
            self.actions.labels(action)
            self.jobs_affected.labels(action)
        for route, method in routes:
            if method == "GET":
                self.requests.labels(route, method, "200")
            self.latency.labels(route, method)


class OperationMetrics:
    """Operations (issue 20) a monitor ran, and failure groups by size (bounded: top N, rest "other")."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = REGISTRY if registry is None else registry
        self.batches = Counter(
            "facequeue_operation_batches_total",
            "Operation batches this monitor ran, by action.",
            ["action"],
            registry=registry,
        )
        self.jobs = Counter(
            "facequeue_operation_jobs_total",
            "Jobs operations handled, by action and outcome (done, skipped).",
            ["action", "outcome"],
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "facequeue_operation_batch_seconds",
            "Duration of one operation batch (one script call), as the monitor saw it.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1),
            registry=registry,
        )
        self.pending = Gauge(
            "facequeue_operations_pending", "Operations queued or running.", registry=registry
        )
        self.trash_purged = Counter(
            "facequeue_trash_purged_total",
            "Trashed jobs purged for good after the trash TTL.",
            registry=registry,
        )
        self.failure_group_jobs = Gauge(
            "facequeue_failure_group_jobs",
            "Failed jobs per failure group: each queue's largest groups by fingerprint, the rest as other.",
            ["queue", "group"],
            registry=registry,
        )
        self.failure_groups = Gauge(
            "facequeue_failure_groups", "Failure groups per queue.", ["queue"], registry=registry
        )
        self.failure_group_newest = Gauge(
            "facequeue_failure_group_newest_first_seen_seconds",
            "When the newest failure group of a queue was first seen (Unix seconds; 0: none).",
            ["queue"],
            registry=registry,
        )
