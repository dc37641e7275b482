"""An SSE connection handed over from aiohttp once its response headers are out (issue 25).

Waiting on its client, an SSE handler kept aiohttp's whole per-request machinery
alive: the request (headers, URL, query), the protocol with its HTTP parser, the
response and its writer, two tasks and every coroutine frame down to a future;
about 10 of the 16 KiB an idle client cost, and, held by every client waiting for
a snapshot slot during a connection storm, the high-water mark the process kept.
So once the headers and the retry hint are written, the handler gives the
transport to a ``Handover`` (a small protocol of its own) and returns: aiohttp
forgets the connection without closing it. A task of the Handover's sends the
snapshot or the replay and the queued frames, and ends once the client is live;
a live client then costs its transport, this object and its ``Client``.

Everything the handler did when the connection ended happens here instead, once:
the client is removed (and counted by reason), its credential unwatched, its
address's connection given back. A reset (RESNAPSHOT) puts a live client back in
queued mode: a task serves its queue (reset frame, fresh snapshot) until it is
live again.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from services.stream.clients import Client
from services.stream.peers import Admission
from services.stream.session import follow, serve_client
from services.stream.sinks import Sink
from services.stream.state import CLIENTS, SESSION_WATCH
from services.stream.wire import Socket
from shared.logging import get_logger

log = get_logger(__name__)

#: The end of a chunked response (what aiohttp's write_eof would have sent).
LAST_CHUNK = b"0\r\n\r\n"


class Handover(asyncio.Protocol):
    """The protocol of a handed-over SSE connection: it reads nothing, and ends the client
    when the connection is lost or the gateway closes it."""

    __slots__ = ("_drained", "_paused", "admission", "app", "client", "socket")

    def __init__(self, app: web.Application, client: Client, socket: Socket, admission: Admission) -> None:
        self.app = app
        self.client = client
        self.socket = socket
        self.admission = admission
        self._paused = False
        self._drained: asyncio.Future[None] | None = None

    # asyncio.Protocol

    def data_received(self, data: bytes) -> None:
        """An SSE client sends nothing after its request; anything more is ignored."""

    def eof_received(self) -> bool:
        return False  # the client half-closed: close our side too (connection_lost follows)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        client = self.client
        client.live = None
        if client.task is not None:
            client.task.cancel()
        self._wake()
        end_client(self.app, client, client.closed_reason or "client")
        self.admission.release()

    # Owner (clients.py)

    def close(self, reason: str) -> None:
        """Slow: abort (its buffer is what is wrong). Otherwise end the response, then close."""
        transport = self.socket.transport
        if transport.is_closing():
            return
        if reason in ("slow", "error"):
            transport.abort()
            return
        if self.socket.wire.chunked:
            transport.write(LAST_CHUNK)
        transport.close()

    def resume(self) -> None:
        client = self.client
        if client.task is None and client.closed_reason is None:
            client.task = asyncio.get_running_loop().create_task(self._serve(None, first=False))

    # Its writer while not live: the snapshot or replay, and queued frames after a reset

    async def drain(self) -> None:
        """Wait until the transport takes more (its buffer under the high-water mark)."""
        if self.socket.transport.is_closing():
            raise ConnectionResetError("the connection is closing")
        if not self._paused:
            return
        if self._drained is None:
            self._drained = asyncio.get_running_loop().create_future()
        await self._drained

    def _wake(self) -> None:
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    def start(self, last_id: int | None) -> None:
        """Serve the new client's snapshot or replay, then its queue until it is live."""
        self.client.task = asyncio.get_running_loop().create_task(self._serve(last_id, first=True))

    async def _serve(self, last_id: int | None, *, first: bool) -> None:
        client = self.client
        clients = self.app[CLIENTS]
        try:
            sink = Sink(self.socket, self.drain, clients)
            if first:
                await serve_client(self.app, client, sink, last_id, until_live=True)
            else:
                await follow(self.app, client, sink, clients.last_seq, until_live=True)
        except asyncio.CancelledError:
            pass  # closed (by the gateway or the client): connection_lost ends it
        except (TimeoutError, ConnectionResetError, RuntimeError):
            client.close("slow")
        except Exception:
            log.exception("serving a stream client failed")
            client.close("error")
        finally:
            client.task = None


def end_client(app: web.Application, client: Client, reason: str) -> None:
    """What ends with a client's connection: its credential's watch, its place among the clients."""
    app[SESSION_WATCH].forget(client)
    app[CLIENTS].remove(client, reason)


def hand_over(
    request: web.Request, client: Client, socket: Socket, admission: Admission, last_id: int | None
) -> None:
    """Give the request's connection to a Handover, which serves it from ``last_id`` (or a
    snapshot); aiohttp lets go of it without closing it.

    The transport gets the new protocol; aiohttp's protocol is told the connection is lost
    with its transport already detached (so it closes nothing) and no handler task to cancel
    (so the calling handler returns normally). Its ``write_eof`` then finds no transport and
    writes nothing; the request, protocol, parser and tasks are freed when the handler returns.
    """
    protocol = request.protocol
    transport = socket.transport
    owner = Handover(request.app, client, socket, admission)
    transport.set_protocol(owner)
    client.owner = owner
    client.task = None
    protocol.transport = None
    protocol._task_handler = None  # aiohttp has no public way to let go of a connection
    protocol.connection_lost(None)
    owner.start(last_id)
