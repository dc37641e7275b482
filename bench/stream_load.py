"""Load client for the stream benchmarks: N SSE connections that count frames and sample lag.

Run: ``python -m bench.stream_load URL CLIENTS EVENTS SECONDS [snapshot]`` — opens CLIENTS
connections, prints ``ready``, reads until each has EVENTS job frames (or
SECONDS pass), prints a JSON line with per-client counts and lag samples.
Reading is raw (chunks, not parsed events) so one process can follow 1,000 clients.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aiohttp

AUTH = {"Authorization": "Bearer bench-token"}


async def follow(response: aiohttp.ClientResponse, events: int, deadline: float, lags: list[float]) -> int:
    count, tail = 0, b""
    while count < events and time.monotonic() < deadline:
        try:
            chunk = await asyncio.wait_for(response.content.readany(), max(0.01, deadline - time.monotonic()))
        except (TimeoutError, aiohttp.ClientError):
            break  # out of time, or the gateway dropped this client (counted short)
        if not chunk:
            break
        frames = (tail + chunk).split(b"\r\n\r\n")
        tail = frames.pop()
        jobs = [f for f in frames if b"event: job" in f]
        count += len(jobs)
        if jobs:
            ts = float(jobs[-1].split(b'"ts":', 1)[1].split(b",", 1)[0])
            lags.append(time.time() - ts)
    return count


async def main() -> None:
    url, clients, events, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    snapshot_first = len(sys.argv) > 5 and sys.argv[5] == "snapshot"
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=None)
    ) as session:
        responses = []
        for i in range(0, clients, 100):
            batch = [
                session.get(f"{url}/stream?topics=jobs", headers=AUTH) for _ in range(min(100, clients - i))
            ]
            responses += await asyncio.gather(*batch)
        assert all(r.status == 200 for r in responses), {r.status for r in responses}
        if snapshot_first:
            # The snapshot covers everything before it: count only what follows it.
            async def past_snapshot(response: aiohttp.ClientResponse) -> None:
                await response.content.readuntil(b"event: snapshot")
                await response.content.readuntil(b"\r\n\r\n")

            await asyncio.gather(*(past_snapshot(r) for r in responses))
        print("ready", flush=True)
        sys.stdin.readline()  # the driver starts publishing, then tells us to read
        lags: list[float] = []
        deadline = time.monotonic() + seconds
        counts = await asyncio.gather(*(follow(r, events, deadline, lags) for r in responses))
        print(json.dumps({"counts": counts, "lags": lags}), flush=True)
        for r in responses:
            r.close()


if __name__ == "__main__":
    asyncio.run(main())
