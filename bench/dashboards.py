"""N simulated dashboards, for the Redis-load benchmark.

``python -m bench.dashboards poll BASE N`` — each dashboard polls ``GET /api/v1/stats``
every 2 s (the seed's design; started at random offsets so the load is even).
``python -m bench.dashboards sse BASE N`` — each holds one gateway connection with the
dashboard's default topics and reads everything it is sent.

Prints ``ready`` once every dashboard is connected (SSE: past its snapshot), then
answers each line on stdin with a JSON line of its counters; exits on EOF.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time

import aiohttp

from bench.procs import AUTH, raise_nofile

#: Seconds between two polls of one dashboard (the seed polled every 2 s).
POLL_INTERVAL_S = 2.0

counters = {"requests": 0, "errors": 0, "bytes": 0}


async def poller(session: aiohttp.ClientSession, url: str) -> None:
    next_at = time.monotonic() + random.uniform(0, POLL_INTERVAL_S)
    while True:
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        next_at += POLL_INTERVAL_S
        try:
            async with session.get(url, headers=AUTH) as response:
                counters["bytes"] += len(await response.read())
                counters["requests" if response.status == 200 else "errors"] += 1
        except aiohttp.ClientError:
            counters["errors"] += 1


async def reader(response: aiohttp.ClientResponse) -> None:
    while chunk := await response.content.readany():
        counters["bytes"] += len(chunk)


async def control() -> None:
    loop = asyncio.get_running_loop()
    while await loop.run_in_executor(None, sys.stdin.readline):
        print(json.dumps(counters), flush=True)


async def main() -> None:
    raise_nofile()
    mode, base, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=None)
    ) as session:
        tasks = []
        if mode == "poll":
            tasks = [asyncio.create_task(poller(session, f"{base}/api/v1/stats")) for _ in range(n)]
        else:
            responses: list[aiohttp.ClientResponse] = []
            for i in range(0, n, 100):
                batch = [session.get(f"{base}/stream", headers=AUTH) for _ in range(min(100, n - i))]
                responses += await asyncio.gather(*batch)
            assert all(r.status == 200 for r in responses), {r.status for r in responses}
            await asyncio.gather(*(r.content.readuntil(b"event: snapshot") for r in responses))
            tasks = [asyncio.create_task(reader(r)) for r in responses]
        print("ready", flush=True)
        await control()
        for task in tasks:
            task.cancel()


if __name__ == "__main__":
    asyncio.run(main())
