"""The floor for frame writes: a bare asyncio server writing each event to every transport.

No Redis, no framework, no queues: it answers any request with SSE headers, then
on ``EVENTS RATE`` (a line on stdin) makes EVENTS job events at RATE per second,
each formatted once in the gateway's envelope and written with ``transport.write``
to every connection in one loop. Run: ``python -m bench.bare_fanout PORT``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from bench.procs import raise_nofile

HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
transports: set[asyncio.Transport] = set()


class Subscriber(asyncio.Protocol):
    def __init__(self) -> None:
        self.head = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.transport is None or self.transport in transports:
            return
        self.head += data
        if b"\r\n\r\n" in self.head:
            self.transport.write(HEADERS)
            transports.add(self.transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            transports.discard(self.transport)


def frame(seq: int) -> bytes:
    data = {"job": f"{seq:032x}", "queue": "diagnostics", "from": None, "to": "waiting"}
    payload = (
        f'{{"v":1,"seq":{seq},"id":"{seq}-0","ts":{time.time():.3f},"type":"job","data":'
        f"{json.dumps(data, separators=(',', ':'))}}}"
    )
    return f"id: {seq}\r\nevent: job\r\ndata: {payload}\r\n\r\n".encode()


async def publish(events: int, rate: float) -> None:
    start = time.monotonic()
    for seq in range(1, events + 1):
        data = frame(seq)
        for transport in transports:
            transport.write(data)
        ahead = seq / rate - (time.monotonic() - start)
        await asyncio.sleep(max(0.0, ahead))


async def main() -> None:
    raise_nofile()
    port = int(sys.argv[1])
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Subscriber, "127.0.0.1", port, backlog=1024)
    async with server:
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            events, rate = line.split()
            await publish(int(events), float(rate))


if __name__ == "__main__":
    asyncio.run(main())
