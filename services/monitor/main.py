"""Wiring of the monitor process: health endpoints plus the tick loop."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from services.monitor.loop import MonitorLoop, start_loop, stop_task
from shared.config import Settings
from shared.http import METRICS, REDIS, base_app, serve
from shared.logging import configure_logging
from shared.registry import AsyncRegistry


def build_app(settings: Settings) -> web.Application:
    app = base_app(settings)

    async def loop_ctx(app: web.Application) -> AsyncIterator[None]:
        loop = MonitorLoop(settings, AsyncRegistry(settings, app[REDIS]), app[METRICS])
        task = await start_loop(loop)
        yield
        await stop_task(task)

    app.cleanup_ctx.append(loop_ctx)
    return app


def main(settings: Settings | None = None) -> None:
    settings = settings or Settings.from_env()
    configure_logging(settings, "monitor")
    serve(build_app(settings), settings, settings.monitor_port, "monitor")
