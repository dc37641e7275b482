"""OpenTelemetry tracing: off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` names a collector.

A job crosses processes through Redis, not HTTP, so its trace context travels with it: the API's
request span is current when the job is submitted, and :func:`context_options` puts its W3C
``traceparent`` into the Dramatiq message options kept in the job record; the worker continues
that trace (:func:`extract`). Without an endpoint no provider is installed: the OpenTelemetry API
is a no-op, nothing is stored with jobs and nothing is sent. The standard ``OTEL_*`` variables
(``OTEL_SERVICE_NAME``, ``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_BSP_*``...) apply as usual.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context

#: What switches tracing on: an OTLP/HTTP endpoint (``http://collector:4318``).
ENDPOINT_ENVS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
#: Instrumentation scope of facequeue's spans.
SCOPE = "facequeue"
#: Span attribute naming the job a span works on.
JOB_ATTRIBUTE = "facequeue.job.id"


#: Whether :func:`configure` installed a provider in this process.
_configured = False


def enabled() -> bool:
    """An endpoint is set: :func:`configure` will trace (what a process checks before it runs)."""
    return any(os.environ.get(name) for name in ENDPOINT_ENVS)


def active() -> bool:
    """This process exports spans (so per-request work is worth doing)."""
    return _configured


def configure(service: str) -> bool:
    """Install an OTLP/HTTP exporting tracer provider for ``service`` when an endpoint is set."""
    if not enabled():
        return False
    # Imported here: a process without tracing never loads the SDK and the exporter.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from shared.metrics import build_labels

    version, revision = build_labels()
    resource = Resource.create(
        {
            "service.name": os.environ.get("OTEL_SERVICE_NAME") or f"facequeue-{service}",
            "service.namespace": "facequeue",
            "service.version": version,
            "vcs.revision": revision,
        }
    )
    # The provider flushes its batch at interpreter exit (shutdown_on_exit), after a drain.
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    global _configured
    _configured = True
    return True


def tracer() -> trace.Tracer:
    return trace.get_tracer(SCOPE)


def context_options() -> dict[str, str]:
    """The current trace context as message options (``traceparent``); empty when not tracing."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def extract(carrier: Mapping[str, Any]) -> Context:
    """The trace context a message's options or a request's headers carry (empty when none)."""
    return propagate.extract({k: v for k, v in carrier.items() if isinstance(v, str)})
