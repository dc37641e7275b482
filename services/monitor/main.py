"""Wiring of the monitor process: health endpoints plus its long-running tasks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from aiohttp import web

from services.monitor.listener import Listener
from services.monitor.operations import OperationRunner
from services.monitor.scheduler import Scheduler
from services.monitor.tick import Monitor
from shared.config import Settings
from shared.http import METRICS, REDIS, base_app, serve, stop_tasks
from shared.logging import configure_logging
from shared.metrics import MonitorMetrics, OperationMetrics
from shared.registry import AsyncRegistry

#: The running Monitor, for tests and introspection.
MONITOR = web.AppKey("monitor", Monitor)
#: The running operations runner (issue 20).
OPERATIONS = web.AppKey("operations", OperationRunner)


def build_app(settings: Settings) -> web.Application:
    app = base_app(settings)
    monitor = Monitor(settings, AsyncRegistry(settings, app[REDIS]), MonitorMetrics(app[METRICS]))
    app[MONITOR] = monitor
    runner = OperationRunner(settings, monitor.registry, OperationMetrics(app[METRICS]))
    app[OPERATIONS] = runner

    async def tasks_ctx(app: web.Application) -> AsyncIterator[None]:
        scheduler = Scheduler(monitor)
        listener = Listener(app[REDIS], monitor, scheduler)
        coros: list[Coroutine[Any, Any, None]] = [
            monitor.run(),
            monitor.run_worker_announcer(),
            scheduler.run(),
            listener.run(),
            runner.run(),
        ]
        tasks = [asyncio.create_task(c) for c in coros]
        yield
        await stop_tasks(tasks)

    app.cleanup_ctx.append(tasks_ctx)
    return app


def main(settings: Settings | None = None) -> None:
    settings = settings or Settings.from_env()
    configure_logging(settings, "monitor")
    serve(build_app(settings), settings, settings.monitor_port, "monitor")
