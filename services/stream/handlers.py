"""``GET /stream`` (SSE) and ``GET /ws`` (WebSocket): snapshot or replay, then live frames.

Each checks auth and parameters, registers a client and runs its session
(session.py). An SSE handler returns once the response headers are out, the
connection handed over to a small protocol that serves it from then on
(handover.py: aiohttp's per-request state was most of an idle client's memory).
A WebSocket handler waits on its client's queue; the connection closing
cancels it (the server runs with handler cancellation).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import socket

from aiohttp import WSMsgType, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp_sse import EventSourceResponse

from services.stream.clients import Client
from services.stream.handover import end_client, hand_over
from services.stream.peers import Admission, client_address
from services.stream.session import serve_client
from services.stream.sinks import Sink, sse_wire
from services.stream.state import (
    ADDRESS_CAP,
    CLIENTS,
    FANOUT,
    REQUEST_IDENTITY,
    REQUEST_SESSION,
    SESSION_WATCH,
    STREAM_LIMITER,
    STREAM_METRICS,
    STREAM_SESSIONS,
)
from services.stream.wire import WEBSOCKET, Wire
from shared.auth import Identity, Permission, configured
from shared.errors import FacequeueError
from shared.events import DEFAULT_TOPICS, Topic
from shared.forwarded import parse_ip
from shared.http import DRAINING, PROXIES, SETTINGS, error_response, origin
from shared.logging import get_logger
from shared.names import NAME_RULE, is_valid_name
from shared.sessions import SESSION_COOKIE

#: Every topic a client may ask for.
TOPICS = frozenset(Topic)
#: One frozenset per set of topics asked for, shared by its clients (~200 B each otherwise);
#: bounded by the subsets of TOPICS, the only ones admitted.
_TOPIC_SETS: dict[frozenset[str], frozenset[str]] = {}

log = get_logger(__name__)

#: Seconds a new client waits for the gateway's subscription (after a Redis outage) before a 503.
SUBSCRIBE_WAIT_S = 5.0
#: Reconnection delay hint range (ms): jittered so a restart does not bring every client back at once.
RETRY_MS = (1000, 3000)
#: A Last-Event-ID: ASCII digits only (``str.isdigit`` also accepts ``'٣'`` and ``'²'``, and
#: ``int('²')`` raises), short enough for an int64 seq.
_EVENT_ID = re.compile(r"[0-9]{1,15}")


class BadRequest(Exception):
    """A query parameter the gateway cannot serve."""


class Forbidden(Exception):
    """A query parameter the caller may not ask for: a queue outside its scope. (Any role may opt
    into the ``audit`` topic, as any role may GET /api/v1/audit: a scoped caller is sent only its
    queues' entries, like every event.)"""


def error(status: int, code: str, message: str, request: web.Request) -> web.Response:
    return error_response(status, code, message, headers=cors_headers(request))


def cors_headers(request: web.Request) -> dict[str, str]:
    """CORS only for the configured dashboard origin (with its cookie)."""
    origin = request.headers.get("Origin")
    allowed = request.app[SETTINGS].dashboard_origin
    if origin and allowed and origin == allowed:
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Credentials": "true",
            "Vary": "Origin",
        }
    return {}


def parse(
    request: web.Request, last_id: str | None, identity: Identity | None = None
) -> tuple[frozenset[str], str | None, int | None]:
    raw_topics = request.query.get("topics")
    topics = DEFAULT_TOPICS if raw_topics is None else frozenset(t for t in raw_topics.split(",") if t)
    if not topics or not topics <= TOPICS:
        raise BadRequest(f"topics must be a comma-separated subset of {','.join(sorted(TOPICS))}")
    topics = _TOPIC_SETS.setdefault(topics, topics)  # shared by every client asking for the same
    queue = request.query.get("queue")
    if queue is not None and not is_valid_name(queue):
        raise BadRequest(f"queue must be {NAME_RULE}")
    if identity is not None and queue is not None and not identity.allows(Permission.READ, queue):
        raise Forbidden(f"queue {queue!r} is outside this caller's scope")
    last: int | None = None
    if last_id not in (None, ""):
        if _EVENT_ID.fullmatch(last_id) is None:
            raise BadRequest("Last-Event-ID must be a non-negative integer of at most 15 digits")
        last = int(last_id)
    return topics, queue, last


async def refuse(request: web.Request) -> web.Response | None:
    """401 without a valid token or session; a viewer may stream. A wrong credential counts
    toward the same failure limit as the API's (429 past it), so the gateway is no token oracle."""
    settings = request.app[SETTINGS]
    if not configured(settings):
        return error(401, "unauthorized", "no token is configured: set FQ_ADMIN_TOKEN", request)
    from_proxy = request.app[PROXIES].trusts(parse_ip(request.remote))
    try:
        caller = await request.app[STREAM_SESSIONS].identify(
            request.headers, request.cookies, from_proxy=from_proxy
        )
    except FacequeueError:
        return error(503, "redis_unavailable", "sessions cannot be checked: Redis is unreachable", request)
    if caller.identity is not None:
        request[REQUEST_IDENTITY] = caller.identity  # its scope filters what it is sent
        if caller.session is not None:
            request[REQUEST_SESSION] = caller.session  # watched while the connection lasts
        return None
    if caller.presented:
        address = origin(request).address
        try:
            wait = await request.app[STREAM_LIMITER].fail(address, caller.token)
        except FacequeueError:
            wait = None  # Redis away: the failure goes uncounted, the caller still gets 401
        log.info("credential refused", via=caller.via, limited=wait is not None)
        if wait is not None:
            response = error(
                429, "too_many_attempts", f"too many wrong credentials; retry in {wait} s", request
            )
            response.headers["Retry-After"] = str(wait)
            return response
    response = error(401, "unauthorized", "a valid bearer token or session cookie is required", request)
    if caller.via == "cookie":
        response.del_cookie(SESSION_COOKIE, path="/")
    return response


Params = tuple[frozenset[str], str | None, int | None]


def scope_of(request: web.Request) -> frozenset[str] | None:
    """The caller's queue scope (None: every queue)."""
    identity = request.get(REQUEST_IDENTITY)
    return identity.queues if identity is not None else None


async def _prologue(request: web.Request, last_id: str | None) -> web.Response | Params:
    """Auth, parameters, readiness, then one of the address's connections (released by _admitted)."""
    if (refused := await refuse(request)) is not None:
        return refused
    try:
        params = parse(request, last_id, request.get(REQUEST_IDENTITY))
    except BadRequest as exc:
        return error(400, "bad_request", str(exc), request)
    except Forbidden as exc:
        return error(403, "forbidden", str(exc), request)
    if request.app[DRAINING].is_set():
        return error(503, "draining", "this gateway is shutting down; connect to another", request)
    fanout = request.app[FANOUT]
    try:
        await asyncio.wait_for(fanout.subscribed.wait(), SUBSCRIBE_WAIT_S)
    except TimeoutError:
        return error(503, "redis_unavailable", "the gateway is not subscribed to Redis", request)
    cap = request.app[ADDRESS_CAP]
    if not cap.acquire(client_address(request)):
        request.app[STREAM_METRICS].refused.inc()
        return error(
            429,
            "too_many_connections",
            f"at most {cap.limit} stream connections per client address; close one first",
            request,
        )
    return params


def _admitted(request: web.Request) -> Admission:
    """The connection _prologue counted for the client's address, given back when it ends."""
    return Admission(request.app[ADDRESS_CAP], client_address(request))


async def stream_sse(request: web.Request) -> web.StreamResponse:
    # The header is what EventSource sends on its own reconnects; the query parameter lets a
    # page that had to open a new EventSource (after an HTTP error ends the old one) resume too.
    resume_from = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
    prologue = await _prologue(request, resume_from)
    if isinstance(prologue, web.Response):
        return prologue
    with _admitted(request) as admission:
        return await _serve_sse(request, admission, *prologue)


class SharedPingResponse(EventSourceResponse):
    """aiohttp-sse's response without its per-connection ping task: the process pings every
    live client in one pass (Clients.ping, every ``stream_ping_s``), and a client not live yet
    is being written to by its Handover's task (handover.py)."""

    async def _ping(self) -> None:
        return


async def _serve_sse(
    request: web.Request, admission: Admission, topics: frozenset[str], queue: str | None, last_id: int | None
) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    client = Client("sse", topics, queue, settings.stream_client_buffer, scope_of(request))
    response = SharedPingResponse(headers=cors_headers(request))
    # Connection: close. The stream ends only with its connection, and once handed over its
    # connection is no longer aiohttp's to keep alive for another request.
    response.force_close()
    response.headers["Connection"] = "close"  # aiohttp-sse's default says keep-alive
    writer = await response.prepare(request)
    assert writer is not None
    try:
        await response.write(f"retry: {random.randint(*RETRY_MS)}\r\n\r\n".encode())
        if await _run(request, admission, client, writer, sse_wire(writer), last_id):
            return response  # live and handed over: aiohttp finds no transport to end
    finally:
        response.stop_streaming()  # ends aiohttp-sse's ping task with the connection
    if client.closed_reason == "slow":
        response._abort_transport()
    else:
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await response.write_eof()
    return response


async def stream_ws(request: web.Request) -> web.StreamResponse:
    origin = request.headers.get("Origin")
    allowed = {request.app[SETTINGS].dashboard_origin, f"{request.scheme}://{request.host}"}
    if origin and origin not in allowed:
        return error(403, "forbidden", "cross-origin WebSocket refused", request)
    prologue = await _prologue(request, request.query.get("last_event_id"))
    if isinstance(prologue, web.Response):
        return prologue
    with _admitted(request) as admission:
        return await _serve_ws(request, admission, *prologue)


async def _serve_ws(
    request: web.Request, admission: Admission, topics: frozenset[str], queue: str | None, last_id: int | None
) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    client = Client("ws", topics, queue, settings.stream_client_buffer, scope_of(request))
    # Uncompressed: frames are encoded once for every client (compression is per connection).
    ws = web.WebSocketResponse(heartbeat=settings.stream_ping_s, compress=False)
    writer = await ws.prepare(request)
    assert writer is not None

    async def read_until_closed() -> None:
        async for message in ws:
            if message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
        if client.closed_reason is None and client.task is not None:
            client.task.cancel()  # the client left: end the handler

    reader = asyncio.create_task(read_until_closed())
    try:
        await _run(request, admission, client, writer, WEBSOCKET, last_id)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    if not ws.closed:
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await ws.close(code=1001 if client.closed_reason == "drain" else 1008, message=b"resume")
    return ws


def _bound_socket_buffer(request: web.Request) -> None:
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, request.app[SETTINGS].stream_socket_sndbuf)


async def _run(
    request: web.Request,
    admission: Admission,
    client: Client,
    writer: AbstractStreamWriter,
    wire: Wire,
    last_id: int | None,
) -> bool:
    """WebSocket: serve until the client leaves (cancellation) or the gateway closes it (slow,
    drain). SSE: hand the connection over (True; handover.py), which serves it from then on."""
    _bound_socket_buffer(request)
    app = request.app
    client.task = asyncio.current_task()
    app[CLIENTS].add(client)
    identity = request.get(REQUEST_IDENTITY)
    key_id = identity.key_id if identity is not None else ""
    app[SESSION_WATCH].watch(client, request.get(REQUEST_SESSION), key_id)
    reason = "client"
    try:
        sink = Sink.of(writer, wire, request)
        if wire is not WEBSOCKET:
            admission.kept = True
            hand_over(request, client, sink.socket, admission, last_id)
            return True
        await serve_client(app, client, sink, last_id)
    except asyncio.CancelledError:
        if client.closed_reason is None:
            raise  # the connection is gone: let aiohttp finish the cancellation
        current = asyncio.current_task()
        if current is not None:
            current.uncancel()
        reason = client.closed_reason
    except (TimeoutError, ConnectionResetError, RuntimeError):
        client.closed_reason = client.closed_reason or "slow"
        reason = client.closed_reason
    finally:
        if client.owner is None:
            end_client(app, client, reason)
    return False
