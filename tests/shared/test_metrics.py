"""Runtime collectors, build_info and pre-initialised label values (shared/metrics.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from shared.events import EventType
from shared.metrics import (
    REVISION_ENV,
    ApiMetrics,
    GroupRuntimeMetrics,
    StreamMetrics,
    WorkerMetrics,
    build_labels,
    register_runtime,
)

ROOT = Path(__file__).resolve().parents[2]


def _samples(registry: CollectorRegistry) -> dict[str, float]:
    found = {}
    for line in generate_latest(registry).decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            found[name] = float(value)
    return found


def test_build_labels_name_the_installed_version_and_the_revision_the_image_was_built_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(REVISION_ENV, "0418eb3")
    version, revision = build_labels()
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", version) and revision == "0418eb3"
    monkeypatch.delenv(REVISION_ENV)
    assert build_labels()[1] == "unknown"


def test_a_process_registry_gets_process_python_and_build_series() -> None:
    registry = CollectorRegistry()
    register_runtime(registry)
    samples = _samples(registry)
    assert samples["process_resident_memory_bytes"] > 1e6
    assert samples["process_open_fds"] >= 3
    assert any(name.startswith("python_info{") for name in samples)
    assert any(name.startswith("python_gc_collections_total{") for name in samples)
    (build,) = [v for name, v in samples.items() if name.startswith("facequeue_build_info{")]
    assert build == 1


def test_worker_runtime_sampling_keeps_cpu_monotonic_and_copies_memory() -> None:
    # Given the worker's sampled runtime metrics on a plain registry
    registry = CollectorRegistry()
    runtime = GroupRuntimeMetrics(registry)
    # When it samples twice around some CPU work
    runtime.sample()
    first = _samples(registry)["process_cpu_seconds_total"]
    sum(i * i for i in range(2_000_000))
    runtime.sample()
    samples = _samples(registry)
    # Then CPU grew by what this process used, and memory and FDs are this process's
    assert samples["process_cpu_seconds_total"] > first > 0
    assert samples["process_resident_memory_bytes"] > 1e6
    assert samples["facequeue_worker_processes"] == 1
    assert samples['python_gc_collections_total{generation="0"}'] >= 0


def test_known_label_values_are_exported_as_zeros_before_any_event() -> None:
    registry = CollectorRegistry()
    StreamMetrics(registry)
    api = ApiMetrics(registry)
    worker = WorkerMetrics(registry)
    api.preinitialise([("/api/v1/jobs", "GET"), ("/api/v1/jobs", "POST")])
    worker.preinitialise([("face_search", "face_search")])
    samples = _samples(registry)
    assert samples['facequeue_stream_clients_connected{transport="sse"}'] == 0
    for kind in EventType:
        assert samples[f'facequeue_stream_events_received_total{{type="{kind.value}"}}'] == 0
    assert samples['facequeue_api_requests_total{method="GET",route="/api/v1/jobs",status="200"}'] == 0
    assert 'facequeue_api_requests_total{method="POST",route="/api/v1/jobs",status="200"}' not in samples
    assert samples['facequeue_api_request_duration_seconds_count{method="POST",route="/api/v1/jobs"}'] == 0
    assert samples['facequeue_worker_job_transitions_total{queue="face_search",to="failed"}'] == 0
    assert samples['facequeue_job_duration_seconds_count{actor="face_search",queue="face_search"}'] == 0


def test_the_admin_actions_pre_initialised_are_the_ones_the_api_records() -> None:
    # The API's sources name each action once: record(request, "x", ...), _act(request, "x")
    # (bulk and clean are recorded as the operations they create).
    sources = "\n".join(p.read_text() for p in (ROOT / "services" / "api").glob("*.py"))
    recorded = set(re.findall(r'(?:record|_act)\(request, "(\w+)"', sources))
    assert recorded == set(ApiMetrics.ACTIONS)
