"""``/api/v1/history/points``: the charts' history (issue 23), from the monitor's tiers.

A dashboard reads a window once, then extends it with the ``history`` events of the
same tier that the monitor publishes as each bucket closes: no polling.

A queue-scoped caller is served the same points with only its own queues in each (every
point is per queue, so nothing of another queue, not even an "all queues" total, leaks).
"""

from __future__ import annotations

import json

from aiohttp import web

from services.api import validation
from services.api.auth import caller
from services.api.models import ChartHistory, ChartPoint, ChartQuery
from services.api.openapi import Route
from services.api.state import REGISTRY
from shared import keys
from shared.history import WINDOWS


async def points(request: web.Request) -> web.Response:
    params = validation.query(request, ChartQuery)
    identity = caller(request)
    span_ms, tier = WINDOWS[params.window]
    registry = request.app[REGISTRY]
    now_ms = await registry.now_ms()
    rows: list[tuple[str, dict[str, str]]] = await registry.client.xrange(  # type: ignore[assignment]
        keys.history_key(tier.name), min=f"{now_ms - span_ms}-0", max="+"
    )
    out = ChartHistory(
        window=params.window,
        step_ms=tier.step_ms,
        tier=tier.name,
        points=[
            ChartPoint(
                t=int(entry_id.split("-", 1)[0]),
                queues={
                    q: f for q, f in json.loads(fields.get("queues") or "{}").items() if identity.sees(q)
                },
            )
            for entry_id, fields in rows
        ],
    )
    return web.json_response(out.model_dump())


ROUTES = [
    Route(
        "GET",
        "/api/v1/history/points",
        points,
        "Chart history per queue: throughput, depth and run time over a window",
        query=ChartQuery,
        response=ChartHistory,
        errors=(400,),
        scoped=True,  # each point is per queue: a scoped caller gets its queues' figures only
    ),
]
