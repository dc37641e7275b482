"""Wiring of the streaming gateway process (its SSE/WebSocket fan-out is built on this)."""

from __future__ import annotations

from aiohttp import web

from shared.config import Settings
from shared.http import base_app, serve
from shared.logging import configure_logging


def build_app(settings: Settings) -> web.Application:
    return base_app(settings)


def main(settings: Settings | None = None) -> None:
    settings = settings or Settings.from_env()
    configure_logging(settings, "stream")
    serve(build_app(settings), settings, settings.stream_port, "stream")
