"""Typed application state of the API."""

from __future__ import annotations

from aiohttp import web

from shared.metrics import ApiMetrics
from shared.ratelimit import FailureLimiter
from shared.registry import AsyncRegistry
from shared.sessions import SessionStore

#: The registry every handler uses (shares the app's Redis client).
REGISTRY = web.AppKey("registry", AsyncRegistry)
#: The API's metrics.
API_METRICS = web.AppKey("api_metrics", ApiMetrics)
#: Dashboard sessions (records in Redis, shared with the gateway).
SESSIONS = web.AppKey("sessions", SessionStore)
#: Counts wrong credentials per client address and token prefix.
LIMITER = web.AppKey("limiter", FailureLimiter)


def record(request: web.Request, action: str, jobs: int) -> None:
    """Count an admin action that changed ``jobs`` jobs (each change published one event)."""
    if jobs > 0:
        metrics = request.app[API_METRICS]
        metrics.actions.labels(action).inc()
        metrics.jobs_affected.labels(action).inc(jobs)
