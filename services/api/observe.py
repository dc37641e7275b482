"""Request metrics: count and latency by route template and status, probes and scrapes left out."""

from __future__ import annotations

import time

from aiohttp import web

from services.api.errors import Handler
from services.api.state import API_METRICS
from shared.metrics import OPS_PATHS


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
        info = request.match_info.route.resource
        route = info.canonical if info is not None else "unmatched"
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
