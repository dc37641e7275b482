"""One job, one trace: the API's request span, the worker's wait, run and complete spans, and the
gateway's deliveries of the job's events.

The api, the stream and a worker group run as real processes exporting over OTLP/HTTP to a collector this
test runs (it decodes the protobuf the OpenTelemetry exporter sends, as a Collector would).
Without ``OTEL_EXPORTER_OTLP_ENDPOINT`` nothing is traced and nothing is stored with jobs.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import threading
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from devstack.localredis import free_port
from shared import tracing
from shared.config import Settings
from shared.messages import decode_template
from shared.submit import submit_call
from tests.processes import WorkerGroup, launch, wait_for

ADMIN = {"Authorization": "Bearer test-admin-token-with-thirty-two-chars", "Content-Type": "application/json"}


@dataclasses.dataclass(frozen=True)
class Received:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any]


class Collector:
    """An OTLP/HTTP traces endpoint on loopback, keeping every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[Received] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                collector.receive(ExportTraceServiceRequest.FromString(body))
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def receive(self, request: ExportTraceServiceRequest) -> None:
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attributes = {
                        a.key: a.value.string_value or a.value.int_value or a.value.bool_value
                        for a in span.attributes
                    }
                    self.spans.append(
                        Received(
                            resource.get("service.name", ""),
                            span.name,
                            span.trace_id.hex(),
                            span.span_id.hex(),
                            span.parent_span_id.hex(),
                            attributes,
                        )
                    )

    def of_job(self, job_id: str) -> list[Received]:
        return [s for s in self.spans if s.attributes.get(tracing.JOB_ATTRIBUTE) == job_id]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[Collector]:
    found = Collector()
    # Read by every process started after this: api (launch) and worker groups (start_worker).
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", found.endpoint)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
    try:
        yield found
    finally:
        found.close()


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=ADMIN, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.loads(response.read()))


def _state(api: str, job_id: str) -> str:
    request = urllib.request.Request(f"{api}/api/v1/jobs/{job_id}", headers=ADMIN)
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.loads(response.read())["state"])


def test_the_spans_of_a_job_across_api_and_worker_share_one_trace(
    collector: Collector,
    settings: Settings,
    tmp_path: Path,
    start_worker: Callable[..., WorkerGroup],
) -> None:
    # Given the api, the stream and a worker group exporting to the collector
    own = dataclasses.replace(settings, api_port=free_port(), stream_port=free_port())
    api_process = launch("api", own, own.api_port, tmp_path / "api.log")
    stream_process = launch("stream", own, own.stream_port, tmp_path / "stream.log")
    try:
        start_worker()
        api = f"http://127.0.0.1:{own.api_port}"
        # When a job that completes and one that fails are submitted and run
        done = _post(f"{api}/api/v1/jobs", {"actor": "noop"})["id"]
        failed = _post(f"{api}/api/v1/jobs", {"actor": "fail", "args": ["boom"], "max_retries": 0})["id"]
        wait_for(lambda: _state(api, done) == "completed" and _state(api, failed) == "failed", timeout=30)

        def complete(job_id: str) -> list[Received]:
            spans = collector.of_job(job_id)
            names = {s.name for s in spans}
            return spans if {"complete", "deliver"} <= {n.split()[0] for n in names} else []

        wait_for(lambda: complete(done) and complete(failed), timeout=20, what="the worker's spans")
    finally:
        stream_process.stop()
        api_process.stop()
    for job_id, actor, outcome in ((done, "noop", "completed"), (failed, "fail", "failed")):
        spans = {s.name: s for s in collector.of_job(job_id)}
        # Then the api's request span, and the worker's wait, run and complete spans, exist
        request = spans["POST /api/v1/jobs"]
        assert request.service == "facequeue-api"
        assert {f"wait {actor}", f"run {actor}", f"complete {actor}"} <= set(spans)
        # And they share the request's trace id: wait and run are children of the request span,
        # complete a child of run
        assert {s.trace_id for s in spans.values()} == {request.trace_id}
        assert spans[f"run {actor}"].service == "facequeue-worker"
        assert spans[f"run {actor}"].parent_id == spans[f"wait {actor}"].parent_id == request.span_id
        assert spans[f"complete {actor}"].parent_id == spans[f"run {actor}"].span_id
        assert spans[f"complete {actor}"].attributes["facequeue.outcome"] == outcome
        # And the gateway's deliveries of the job's events are in the same trace
        deliveries = [s for s in collector.of_job(job_id) if s.name.startswith("deliver job ")]
        assert deliveries and {s.service for s in deliveries} == {"facequeue-stream"}
        assert {s.parent_id for s in deliveries} == {request.span_id}
    # And two jobs are two traces
    assert collector.of_job(done)[0].trace_id != collector.of_job(failed)[0].trace_id
    # And probes and scrapes make no spans
    assert not [s for s in collector.spans if s.attributes.get("url.path") in ("/readyz", "/metrics")]


def test_without_an_endpoint_nothing_is_configured_or_stored_with_a_job(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    for name in tracing.ENDPOINT_ENVS:
        monkeypatch.delenv(name, raising=False)
    assert tracing.configure("api") is False
    _, call = submit_call("noop", [], settings=settings)
    assert "traceparent" not in json.dumps([str(a) for a in call.args])


def test_a_job_submitted_inside_a_span_carries_its_trace_context(settings: Settings) -> None:
    # Given an in-memory exporter and a span current while a job is submitted
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("test").start_as_current_span("submit") as span:
        job_id, call = submit_call("noop", [], settings=settings)
    # Then the job's stored message carries the span's context
    (template,) = [a for a in call.args if isinstance(a, str) and a.startswith('{"queue_name"')]
    options = decode_template(template)["options"]
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert options["traceparent"].split("-")[1] == trace_id
    # And the span names the job
    (finished,) = exporter.get_finished_spans()
    assert finished.attributes is not None and finished.attributes[tracing.JOB_ATTRIBUTE] == job_id
    # And the worker's extraction finds the same trace
    extracted = tracing.extract(options)
    assert trace.get_current_span(extracted).get_span_context().trace_id == span.get_span_context().trace_id
