"""Wiring of the API process."""

from __future__ import annotations

from aiohttp import web

from services.api import (
    actors,
    apikeys,
    audit,
    bulk,
    charts,
    dashboard,
    failures,
    galleries,
    jobs,
    limits,
    openapi,
    operations,
    overview,
    queues,
    retention,
    schedules,
    sessions,
    sso,
    trash,
    uploads,
    workers,
)
from services.api.auth import auth_middleware
from services.api.errors import error_middleware
from services.api.observe import metrics_middleware, preinitialise, tracing_middleware
from services.api.state import API_METRICS, LIMITER, REGISTRY, SESSIONS
from shared.auth import check_credentials
from shared.config import Settings, SettingsError
from shared.http import METRICS, REDIS, base_app, serve
from shared.logging import configure_logging
from shared.metrics import ApiMetrics, ReplicationMetrics
from shared.ratelimit import FailureLimiter
from shared.registry import AsyncRegistry, durability
from shared.scripts import Lua
from shared.sessions import SessionStore


def build_app(settings: Settings) -> web.Application:
    """The API; refuses (SettingsError) credentials that could be forged or guessed."""
    check_credentials(settings)
    app = base_app(
        settings, middlewares=[tracing_middleware, metrics_middleware, error_middleware, auth_middleware]
    )
    # A submission fewer replicas than FQ_REDIS_MIN_REPLICAS_ACK confirmed answers 503 (issue 17).
    policy = durability(settings, ReplicationMetrics(app[METRICS]), strict=frozenset({Lua.JOB_SUBMIT}))
    app[REGISTRY] = AsyncRegistry(settings, app[REDIS], policy)
    app[API_METRICS] = ApiMetrics(app[METRICS])
    app[SESSIONS] = SessionStore(app[REGISTRY])
    app[LIMITER] = FailureLimiter(app[REDIS], settings)
    app.cleanup_ctx.append(uploads.image_store_ctx)
    dashboard.add(app)
    app.router.add_get("/api/v1/openapi.json", openapi.openapi_json)
    app.router.add_get("/login", sessions.gone)
    openapi.add(
        app,
        *bulk.ROUTES,
        *operations.ROUTES,
        *failures.ROUTES,
        *trash.ROUTES,
        *jobs.ROUTES,
        *galleries.ROUTES,
        *uploads.ROUTES,
        *queues.ROUTES,
        *retention.ROUTES,
        *limits.ROUTES,
        *schedules.ROUTES,
        *workers.ROUTES,
        *overview.ROUTES,
        *charts.ROUTES,
        *sessions.ROUTES,
        *actors.ROUTES,
        *apikeys.ROUTES,
        *audit.ROUTES,
        *sso.ROUTES,
    )
    sso.add(app, settings)
    app.on_startup.append(preinitialise)
    return app


def main(settings: Settings | None = None) -> None:
    settings = settings or Settings.from_env()
    configure_logging(settings, "api")
    try:
        app = build_app(settings)
    except SettingsError as exc:
        raise SystemExit(f"api: refusing to start: {exc}") from None
    serve(app, settings, settings.api_port, "api")
