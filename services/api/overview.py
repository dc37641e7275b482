"""``/api/v1/stats`` and ``/api/v1/history``: the fleet at a glance and its recent throughput
(``/api/v1/audit`` lives in services/api/audit.py)."""

from __future__ import annotations

from aiohttp import web

from services.api import validation
from services.api.models import (
    HistoryList,
    HistoryQuery,
    HistorySample,
    Stats,
)
from services.api.openapi import Route
from services.api.queues import queue_health
from services.api.state import REGISTRY
from shared import keys
from shared.history import Sample
from shared.states import JobState
from shared.workers import count_by_status, read_workers


async def stats(request: web.Request) -> web.Response:
    registry = request.app[REGISTRY]
    queues, now_ms = await queue_health(registry)
    totals = {s.value: sum(q.counts.get(s.value, 0) for q in queues) for s in JobState}
    by_status = count_by_status(await read_workers(registry.client, now_ms, registry.settings))
    return web.json_response(Stats(queues=queues, totals=totals, workers=by_status).model_dump(mode="json"))


async def history(request: web.Request) -> web.Response:
    """The monitor's one-minute samples of completions and failures, oldest first."""
    params = validation.query(request, HistoryQuery)
    rows: list[tuple[str, dict[str, str]]] = await request.app[REGISTRY].client.xrevrange(  # type: ignore[assignment]
        keys.HISTORY_STREAM, count=params.minutes
    )
    samples = [Sample.from_entry(entry_id, fields) for entry_id, fields in reversed(rows)]
    out = HistoryList(
        samples=[
            HistorySample(minute_ms=s.minute_ms, completed=s.completed, failed=s.failed) for s in samples
        ]
    )
    return web.json_response(out.model_dump())


ROUTES = [
    Route("GET", "/api/v1/stats", stats, "Counts, health and workers at a glance", response=Stats),
    Route(
        "GET",
        "/api/v1/history",
        history,
        "Completions and failures per queue and minute",
        query=HistoryQuery,
        response=HistoryList,
        errors=(400,),
    ),
]
