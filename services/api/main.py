"""Wiring of the API process."""

from __future__ import annotations

from aiohttp import web

from services.api.status_page import status_page
from shared.config import Settings
from shared.http import base_app, serve
from shared.logging import configure_logging


def build_app(settings: Settings) -> web.Application:
    app = base_app(settings)
    app.router.add_get("/", status_page)
    return app


def main(settings: Settings | None = None) -> None:
    settings = settings or Settings.from_env()
    configure_logging(settings, "api")
    serve(build_app(settings), settings, settings.api_port, "api")
