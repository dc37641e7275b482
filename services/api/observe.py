"""Request metrics and spans: by route template and status, probes and scrapes left out."""

from __future__ import annotations

import time

from aiohttp import web
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from services.api.errors import Handler
from services.api.state import API_METRICS
from shared import tracing
from shared.metrics import OPS_PATHS


def _route(request: web.Request) -> str:
    info = request.match_info.route.resource
    return info.canonical if info is not None else "unmatched"


@web.middleware
async def tracing_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A server span per request when tracing is on, continuing the caller's trace."""
    if request.path in OPS_PATHS or not tracing.active():
        return await handler(request)
    route = _route(request)
    attributes = {"http.request.method": request.method, "http.route": route, "url.path": request.path}
    with tracing.tracer().start_as_current_span(
        f"{request.method} {route}",
        context=tracing.extract(request.headers),
        kind=SpanKind.SERVER,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            _set_status(span, exc.status_code)
            raise
        except BaseException:
            _set_status(span, 500)
            raise
        _set_status(span, response.status)
        return response


def _set_status(span: trace.Span, status: int) -> None:
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(StatusCode.ERROR)


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in OPS_PATHS:
        # Kubelet probes and Prometheus scrapes are no traffic: counted, they would set the
        # request rate and pull the latency quantiles down (issue 19).
        return await handler(request)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status_code
        raise
    finally:
        route = _route(request)
        metrics = request.app[API_METRICS]
        metrics.requests.labels(route, request.method, str(status)).inc()
        metrics.latency.labels(route, request.method).observe(time.perf_counter() - started)


async def preinitialise(app: web.Application) -> None:
    """On start-up, zero series for every API route, so request panels show no traffic, not no data."""
    app[API_METRICS].preinitialise(
        (route.resource.canonical, route.method)
        for route in app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/")
        and route.method not in ("HEAD", "OPTIONS")
    )
