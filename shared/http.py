"""What every HTTP process serves besides its own routes: /healthz, /readyz, /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import redis.asyncio
import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from shared import redis_clients
from shared.config import Settings
from shared.forwarded import Origin, TrustedProxies
from shared.logging import get_logger
from shared.metrics import register_runtime
from shared.tracing import configure as configure_tracing

#: Redis client of the process, closed on shutdown.
REDIS = web.AppKey("redis", redis.asyncio.Redis)
#: Prometheus registry the process's metrics live on.
METRICS = web.AppKey("metrics", CollectorRegistry)
#: The process's settings.
SETTINGS = web.AppKey("settings", Settings)
#: Set while the process drains before exit: /readyz answers 503.
DRAINING = web.AppKey("draining", asyncio.Event)
#: The proxies whose forwarding headers the process believes (FQ_TRUSTED_PROXIES).
PROXIES = web.AppKey("proxies", TrustedProxies)
#: Where a request came from, worked out once per request by :func:`origin`.
ORIGIN = web.RequestKey("origin", Origin)

#: Redis connections a process opens at most.
REDIS_POOL_SIZE = 64
#: Seconds a request waits for a free Redis connection before failing.
REDIS_POOL_WAIT_S = 20.0
#: Seconds /readyz waits for Redis before answering 503.
READY_TIMEOUT_S = 1.0

log = get_logger(__name__)


def error_response(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> web.Response:
    """Every error body of every service: ``{"error": {"code", "message"}}`` (plus ``extra`` fields
    beside ``error``, e.g. a probe's ``status``)."""
    return web.json_response(
        {**(extra or {}), "error": {"code": code, "message": message}}, status=status, headers=headers
    )


async def healthz(request: web.Request) -> web.Response:
    """The process is alive (it answers)."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Redis answers and the process is not draining; 503 otherwise, so traffic goes elsewhere."""
    if request.app[DRAINING].is_set():
        return error_response(503, "draining", "shutting down", extra={"status": "draining"})
    try:
        # Bounded: the client retries through a failover for seconds, a probe must answer now.
        await asyncio.wait_for(request.app[REDIS].ping(), READY_TIMEOUT_S)
    except (redis.RedisError, OSError, TimeoutError) as exc:
        message = str(exc) or f"no answer from Redis within {READY_TIMEOUT_S} s"
        return error_response(503, "redis_unavailable", message, extra={"status": "unavailable"})
    return web.json_response({"status": "ready"})


def origin(request: web.Request) -> Origin:
    """The client's address and whether it used TLS, through trusted proxies only (shared/forwarded.py)."""
    found = request.get(ORIGIN)
    if found is None:
        found = request.app[PROXIES].origin(request.remote, request.headers, socket_tls=request.secure)
        if request.app[SETTINGS].force_tls and not found.tls:
            found = Origin(found.address, True)
        request[ORIGIN] = found
    return found


@web.middleware
async def client_logging(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every line logged while a request is handled names its client (through trusted proxies)."""
    with structlog.contextvars.bound_contextvars(client=origin(request).address):
        return await handler(request)


async def _strict_transport(request: web.Request, response: web.StreamResponse) -> None:
    # HSTS only on a response that itself came over TLS: over plain HTTP browsers ignore it.
    if origin(request).tls:
        max_age = request.app[SETTINGS].hsts_max_age_s
        response.headers["Strict-Transport-Security"] = f"max-age={max_age}; includeSubDomains"


#: What ``/metrics`` exposes: the app's registry, or (a group of processes on one port) a registry
#: reading every process's multiprocess files.
EXPOSITION = web.AppKey("exposition", CollectorRegistry)


async def metrics(request: web.Request) -> web.Response:
    app = request.app
    body = generate_latest(app[EXPOSITION] if EXPOSITION in app else app[METRICS])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def base_app(
    settings: Settings, registry: CollectorRegistry | None = None, middlewares: list[Any] | None = None
) -> web.Application:
    """An application with the operational endpoints and a Redis client closed on cleanup."""
    app = web.Application(middlewares=[client_logging, *(middlewares or [])])
    app[SETTINGS] = settings
    app[METRICS] = registry or CollectorRegistry()
    register_runtime(app[METRICS])
    app[DRAINING] = asyncio.Event()
    app[PROXIES] = TrustedProxies.from_settings(settings)
    app.on_response_prepare.append(_strict_transport)
    # A blocking pool: a burst (thousands of dashboards reconnecting at once) waits for a
    # connection instead of failing with "Too many connections".
    app[REDIS] = redis_clients.async_client(
        settings, max_connections=REDIS_POOL_SIZE, pool_wait_s=REDIS_POOL_WAIT_S
    )
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)

    async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
        yield
        await app[REDIS].aclose(close_connection_pool=True)

    # A cleanup context (not on_cleanup): contexts unwind in reverse, so tasks a
    # service adds after this one stop before the client they use is closed.
    app.cleanup_ctx.append(redis_ctx)
    return app


async def stop_tasks(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel until done: a client library may swallow one cancellation mid-call."""
    while not all(t.done() for t in tasks):
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=1.0)
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            exc = task.exception() if not task.cancelled() else None
            if exc is not None:
                log.error("background task failed", task=task.get_name(), error=repr(exc))


#: Codes of the errors aiohttp answers itself, before any handler (request line or headers too
#: long or malformed, body framing broken).
_PROTOCOL_CODES = {
    400: "bad_request",
    408: "request_timeout",
    413: "payload_too_large",
    431: "headers_too_large",
}


class _JsonErrorHandler(RequestHandler):
    """aiohttp's connection handler, whose own error answers (a request it could not parse, so no
    middleware ever saw it) use every service's JSON error body instead of text/plain."""

    __slots__ = ()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        plain = super().handle_error(request, status, exc, message)  # logs; raises once bytes went out
        code = _PROTOCOL_CODES.get(status, "internal_error" if status >= 500 else "bad_request")
        text = "internal error; it has been logged" if status >= 500 else (message or plain.reason)
        response = error_response(status, code, text.splitlines()[0][:300] if text else code)
        response.force_close()
        return response


class _JsonErrorServer(web.Server):
    """The low-level server of every facequeue process: its connections answer in JSON."""

    def __call__(self) -> RequestHandler:
        return _JsonErrorHandler(self, loop=self._loop, **self._kwargs)


class Runner(web.AppRunner):
    """AppRunner whose server answers even unparseable requests with ``{"error": ...}``.

    aiohttp builds its Server in ``_make_server`` (pinned aiohttp 3.14; tests/services checks the
    JSON bodies), so the subclass swaps the class of the server it made, nothing else.
    """

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _JsonErrorServer
        return server


#: Coroutines run on SIGTERM while the process still listens (readiness already 503).
PRE_STOP = web.AppKey("pre_stop", list)


def serve(
    app: web.Application,
    settings: Settings,
    port: int,
    service: str,
    *,
    reuse_port: bool = False,
    **runner_options: Any,
) -> None:
    """Run until SIGINT/SIGTERM, then drain: readiness turns 503, ``PRE_STOP`` hooks run, then shutdown.

    aiohttp's own ``run_app`` stops listening before anything else, so a probe
    could never see the 503; this keeps the socket open while draining.

    ``keepalive_timeout`` is aiohttp's idle timer, armed when a connection opens
    and after each response and not re-armed by bytes that arrive: a request
    head still incomplete when it fires is dropped, so it is also the deadline
    for reading a request's line and headers (slowloris; aiohttp's default is an
    hour). Bodies have their own deadline where they are read.

    ``reuse_port``: several processes listen on the port (SO_REUSEPORT), the kernel spreading
    connections between them.
    """
    configure_tracing(service)

    async def run() -> None:
        options = {"keepalive_timeout": settings.http_keepalive_s, **runner_options}
        runner = Runner(app, access_log=None, **options)
        await runner.setup()
        await web.TCPSite(runner, settings.bind_host, port, reuse_port=reuse_port or None).start()
        log.info("listening", service=service, url=f"http://{settings.bind_host}:{port}")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("stopping", service=service)
        app[DRAINING].set()
        for hook in app.get(PRE_STOP, []):
            await hook(app)
        await runner.cleanup()

    asyncio.run(run())
