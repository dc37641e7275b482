"""Wiring of the API process."""

from __future__ import annotations

from aiohttp import web

from services.api import bulk, jobs, openapi, overview, queues, workers
from services.api.auth import auth_middleware
from services.api.errors import error_middleware
from services.api.state import REGISTRY
from services.api.status_page import status_page
from shared.config import Settings
from shared.http import REDIS, base_app, serve
from shared.logging import configure_logging
from shared.registry import AsyncRegistry


def build_app(settings: Settings) -> web.Application:
    app = base_app(settings, middlewares=[error_middleware, auth_middleware])
    app[REGISTRY] = AsyncRegistry(settings, app[REDIS])
    app.router.add_get("/", status_page)
    app.router.add_get("/api/v1/openapi.json", openapi.openapi_json)
    openapi.add(app, *bulk.ROUTES, *jobs.ROUTES, *queues.ROUTES, *workers.ROUTES, *overview.ROUTES)
    return app


def main(settings: Settings | None = None) -> None:
    settings = settings or Settings.from_env()
    configure_logging(settings, "api")
    serve(build_app(settings), settings, settings.api_port, "api")
