"""Wiring of the API process."""

from __future__ import annotations

from aiohttp import web

from services.api import (
    actors,
    auth,
    bulk,
    dashboard,
    galleries,
    jobs,
    openapi,
    overview,
    queues,
    uploads,
    workers,
)
from services.api.auth import auth_middleware
from services.api.errors import error_middleware
from services.api.observe import metrics_middleware
from services.api.state import API_METRICS, REGISTRY
from shared.config import Settings
from shared.http import METRICS, REDIS, base_app, serve
from shared.logging import configure_logging
from shared.metrics import ApiMetrics
from shared.registry import AsyncRegistry


def build_app(settings: Settings) -> web.Application:
    app = base_app(settings, middlewares=[metrics_middleware, error_middleware, auth_middleware])
    app[REGISTRY] = AsyncRegistry(settings, app[REDIS])
    app[API_METRICS] = ApiMetrics(app[METRICS])
    app.cleanup_ctx.append(uploads.image_store_ctx)
    dashboard.add(app)
    app.router.add_get("/api/v1/openapi.json", openapi.openapi_json)
    app.router.add_get("/login", auth.login_link)
    openapi.add(
        app,
        *bulk.ROUTES,
        *jobs.ROUTES,
        *galleries.ROUTES,
        *uploads.ROUTES,
        *queues.ROUTES,
        *workers.ROUTES,
        *overview.ROUTES,
        *auth.ROUTES,
        *actors.ROUTES,
    )
    return app


def main(settings: Settings | None = None) -> None:
    settings = settings or Settings.from_env()
    configure_logging(settings, "api")
    serve(build_app(settings), settings, settings.api_port, "api")
