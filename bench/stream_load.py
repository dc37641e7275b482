"""Load client for the stream benchmarks: N connections that count job frames and sample lag.

Run: ``python -m bench.stream_load URL CLIENTS EVENTS SECONDS [snapshot|ws|-] [SOURCE]``: opens
CLIENTS connections (SSE at ``/stream``; ``ws``: WebSocket at ``/ws``; ``-``: SSE with no
snapshot first, for the baselines), prints ``ready`` once each is past its snapshot,
then, after a line on stdin, reads until each has EVENTS job frames (or SECONDS pass)
and prints a JSON line with per-client counts, lag samples and how many connections are
still open. SOURCE: the local address to connect from (one address has ~28,000
ephemeral ports towards one server port).

The client is a bare asyncio protocol that counts frames with ``bytes.count`` instead
of parsing them (server-to-client WebSocket frames are unmasked, so the payload is
on the wire as is): on a 2-core machine the client shares the CPU with the gateway,
and a parsing client would be what the benchmark measured. Lag is sampled once per
received chunk, from its oldest job frame (the chunk's worst).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import sys
import time
from urllib.parse import urlsplit

from bench.procs import TOKEN, raise_nofile

#: Clients connected at once (a burst larger than the listen backlog gets resets).
CONNECT_BATCH = 100
JOB = b'"type":"job"'
TS = b'"ts":'
SNAPSHOT = b'"type":"snapshot"'


class Counter(asyncio.Protocol):
    def __init__(self, request: bytes, wait_snapshot: bool, lags: list[float]) -> None:
        self.request = request
        self.wait_snapshot = wait_snapshot
        self.lags = lags
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed = False
        self.count = 0
        self.counting = False
        self.head = b""
        self.tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if not self.ready.done():
            self.head += data
            if not self.head.startswith((b"HTTP/1.1 200", b"HTTP/1.1 101")):
                if b"\r\n" in self.head:
                    self.ready.set_exception(RuntimeError(self.head.split(b"\r\n", 1)[0].decode()))
                return
            if (SNAPSHOT in self.head) if self.wait_snapshot else (b"\r\n\r\n" in self.head):
                self.head = b""
                self.ready.set_result(None)
            return
        if not self.counting:
            return
        buf = self.tail + data
        n = buf.count(JOB)
        if n:
            self.count += n
            at = buf.find(JOB)
            ts_at = buf.rfind(TS, 0, at)
            if ts_at >= 0:
                end = buf.find(b",", ts_at)
                with contextlib.suppress(ValueError):
                    self.lags.append(time.time() - float(buf[ts_at + len(TS) : end]))
        self.tail = buf[-(len(JOB) - 1) :]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed before ready"))


def request_for(url: str, mode: str) -> bytes:
    parts = urlsplit(url)
    host = parts.netloc
    if mode == "ws":
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            "GET /ws?topics=jobs HTTP/1.1",
            f"Host: {host}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
    else:
        lines = ["GET /stream?topics=jobs HTTP/1.1", f"Host: {host}", "Accept: text/event-stream"]
    lines.append(f"Authorization: Bearer {TOKEN}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def connect_all(
    url: str, clients: int, mode: str, lags: list[float], source: str | None = None
) -> list[Counter]:
    loop = asyncio.get_running_loop()
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = request_for(url, mode)
    protocols: list[Counter] = []
    for i in range(0, clients, CONNECT_BATCH):
        made = await asyncio.gather(
            *(
                loop.create_connection(
                    lambda: Counter(request, mode in ("snapshot", "ws"), lags),
                    host,
                    port,
                    local_addr=(source, 0) if source else None,
                )
                for _ in range(min(CONNECT_BATCH, clients - i))
            )
        )
        protocols += [p for _, p in made]
    await asyncio.gather(*(p.ready for p in protocols))
    return protocols


async def main() -> None:
    raise_nofile()
    url, clients, events, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    mode = sys.argv[5] if len(sys.argv) > 5 else "-"
    source = sys.argv[6] if len(sys.argv) > 6 else None
    lags: list[float] = []
    protocols = await connect_all(url, clients, mode, lags, source)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for p in protocols:
        p.counting = True
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(p.count < events and not p.closed for p in protocols):
        await asyncio.sleep(0.05)
    still_open = sum(not p.closed for p in protocols)
    print(json.dumps({"counts": [p.count for p in protocols], "lags": lags, "open": still_open}), flush=True)
    for p in protocols:
        p.transport.abort()
    # Alive until the driver has read this process's CPU time.
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


if __name__ == "__main__":
    asyncio.run(main())
