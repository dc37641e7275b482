"""The page at ``/`` until the live dashboard lands: queue counts and workers, rendered once."""

from __future__ import annotations

import html

from aiohttp import web

from shared import catalog, keys
from shared.http import REDIS, SETTINGS
from shared.registry import AsyncRegistry
from shared.states import JobState


async def status_page(request: web.Request) -> web.Response:
    registry = AsyncRegistry(request.app[SETTINGS], request.app[REDIS])
    queues = sorted(set(await registry.queues()) | set(catalog.queues()))
    counts = await registry.counts(queues)
    paused = await registry.client.smembers(keys.PAUSED)
    workers = await registry.client.zrange(keys.WORKERS, 0, -1)
    head = "".join(f"<th>{s.value}</th>" for s in JobState)
    rows = "".join(
        f"<tr><td>{html.escape(q)}{' (paused)' if q in paused else ''}</td>"
        + "".join(f"<td>{counts[q][s.value]}</td>" for s in JobState)
        + "</tr>"
        for q in queues
    )
    body = (
        "<!doctype html><html><head><meta charset='utf-8'><title>facequeue</title></head><body>"
        "<h1>facequeue</h1>"
        f"<table border='1'><tr><th>queue</th>{head}</tr>{rows}</table>"
        f"<p>{len(workers)} worker process(es) registered.</p>"
        "</body></html>"
    )
    return web.Response(text=body, content_type="text/html")
