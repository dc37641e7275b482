"""The baseline gateway: what a straightforward SSE endpoint does, one Redis subscription per client.

Each client gets its own pub/sub connection and every frame is formatted by
aiohttp-sse's ``send()`` per client. Run: ``python -m bench.naive_gateway REDIS_URL PORT``.
"""

from __future__ import annotations

import json
import sys

import redis.asyncio
from aiohttp import web
from aiohttp_sse import sse_response

from shared import keys


async def stream(request: web.Request) -> web.StreamResponse:
    client: redis.asyncio.Redis = request.app["redis"]
    pubsub = client.pubsub()
    await pubsub.subscribe(keys.UPDATES_CHANNEL)
    try:
        async with sse_response(request) as sse:
            async for message in pubsub.listen():
                if message["type"] == "message":
                    event = json.loads(message["data"])
                    await sse.send(message["data"], id=str(event["seq"]), event=event["type"])
    finally:
        await pubsub.aclose()
    return sse


def main() -> None:
    url, port = sys.argv[1], int(sys.argv[2])
    app = web.Application()
    app["redis"] = redis.asyncio.Redis.from_url(url, decode_responses=True, max_connections=100_000)
    app.router.add_get("/stream", stream)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, handler_cancellation=True)


if __name__ == "__main__":
    main()
