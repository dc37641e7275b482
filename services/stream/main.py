"""Wiring of the streaming gateway: one subscription, the stats ticker, SSE and WebSocket routes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from services.stream import group
from services.stream.clients import Clients
from services.stream.fanout import Fanout
from services.stream.handlers import stream_sse, stream_ws
from services.stream.peers import AddressCap
from services.stream.revocation import CredentialWatch
from services.stream.state import (
    ADDRESS_CAP,
    CLIENTS,
    FANOUT,
    SESSION_WATCH,
    STREAM_LIMITER,
    STREAM_METRICS,
    STREAM_REGISTRY,
    STREAM_SESSIONS,
)
from services.stream.stats import StatsTicker
from shared.auth import check_credentials
from shared.config import Settings, SettingsError
from shared.http import METRICS, PRE_STOP, REDIS, base_app, serve, stop_tasks
from shared.logging import configure_logging, get_logger
from shared.metrics import StreamMetrics
from shared.ratelimit import FailureLimiter
from shared.registry import AsyncRegistry
from shared.sessions import SessionStore

log = get_logger(__name__)


async def sweep(clients: Clients) -> None:
    """Once a second: drop live clients whose sockets stopped draining."""
    while True:
        await asyncio.sleep(1.0)
        clients.sweep()


async def ping(clients: Clients, interval_s: float) -> None:
    """Every ``stream_ping_s``: a keep-alive comment to every live SSE client, in one pass."""
    while True:
        await asyncio.sleep(interval_s)
        clients.ping()


def build_app(settings: Settings) -> web.Application:
    """The gateway; refuses (SettingsError) credentials that could be forged or guessed."""
    check_credentials(settings)
    app = base_app(settings)
    metrics = StreamMetrics(app[METRICS])
    clients = Clients(metrics, settings.stream_client_max_bytes)
    fanout = Fanout(app[REDIS], clients, metrics, settings.stream_replay_max_events)
    app[STREAM_METRICS] = metrics
    app[CLIENTS] = clients
    app[FANOUT] = fanout
    app[ADDRESS_CAP] = AddressCap(settings.stream_max_connections_per_address)
    app[STREAM_REGISTRY] = AsyncRegistry(settings, app[REDIS])
    app[STREAM_SESSIONS] = SessionStore(app[STREAM_REGISTRY])
    app[STREAM_LIMITER] = FailureLimiter(app[REDIS], settings)
    app[SESSION_WATCH] = CredentialWatch(app[STREAM_SESSIONS], settings.stream_session_check_s)
    fanout.on_revocation = app[SESSION_WATCH].nudge
    app.router.add_get("/stream", stream_sse)
    app.router.add_get("/ws", stream_ws)

    async def tasks_ctx(app: web.Application) -> AsyncIterator[None]:
        ticker = StatsTicker(app[STREAM_REGISTRY], clients, fanout, settings.stream_stats_interval_ms)
        tasks = [
            asyncio.create_task(fanout.run(), name="fanout"),
            asyncio.create_task(ticker.run(), name="stats"),
            asyncio.create_task(sweep(clients), name="sweep"),
            asyncio.create_task(ping(clients, settings.stream_ping_s), name="ping"),
            asyncio.create_task(app[SESSION_WATCH].run(), name="sessions"),
        ]
        yield
        await stop_tasks(tasks)
        for client in list(clients):
            client.close("drain")  # handed-over connections aiohttp's shutdown no longer sees

    async def drain(app: web.Application) -> None:
        """On SIGTERM (readiness already 503): close clients gradually so they resume elsewhere."""
        connected = list(clients)
        log.info("draining", clients=len(connected), over_s=settings.stream_drain_s)
        for client in connected:
            client.close("drain")
            await asyncio.sleep(settings.stream_drain_s / max(1, len(connected)))

    app.cleanup_ctx.append(tasks_ctx)
    app[PRE_STOP] = [drain]
    return app


def serve_gateway(app: web.Application, settings: Settings, *, reuse_port: bool = False) -> None:
    """Serve until SIGTERM/SIGINT, then drain (clients closed gradually, then shutdown)."""
    serve(
        app,
        settings,
        settings.stream_port,
        "stream",
        reuse_port=reuse_port,
        handler_cancellation=True,
        shutdown_timeout=settings.stream_drain_s + 5,
    )


def main(settings: Settings | None = None) -> None:
    """One gateway process, or ``FQ_STREAM_PROCESSES`` of them on one port (services/stream/group.py)."""
    settings = settings or Settings.from_env()
    configure_logging(settings, "stream")
    try:
        app = build_app(settings)  # also checks the settings before any process starts
    except SettingsError as exc:
        raise SystemExit(f"stream: refusing to start: {exc}") from None
    processes = group.process_count(settings)
    if processes > 1:
        del app
        raise SystemExit(group.run_group(settings, processes))
    serve_gateway(app, settings)
