"""``/api/v1/stats``, ``/api/v1/history`` and ``/api/v1/audit``: the fleet at a glance, its recent
throughput, and who did what."""

from __future__ import annotations

import redis
from aiohttp import web

from services.api import validation
from services.api.models import (
    AuditEntry,
    AuditList,
    AuditQuery,
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


async def audit(request: web.Request) -> web.Response:
    params = validation.query(request, AuditQuery)
    end = f"({params.before}" if params.before else "+"
    try:
        rows: list[tuple[str, dict[str, str]]] = await request.app[REGISTRY].client.xrevrange(  # type: ignore[assignment]
            keys.AUDIT_STREAM, max=end, min="-", count=params.limit
        )
    except redis.ResponseError:  # "(0-0": nothing is older than the first possible id
        rows = []
    entries = [
        AuditEntry(
            id=entry_id,
            who=f.get("who", ""),
            action=f.get("action", ""),
            queue=f.get("queue", ""),
            target=f.get("target", ""),
            count=int(f.get("count", 0)),
            skipped=int(f.get("skipped", 0)),
            ts_ms=int(f.get("ts_ms", 0)),
            address=f.get("address", ""),
        )
        for entry_id, f in rows
    ]
    return web.json_response(AuditList(entries=entries).model_dump())


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
    Route(
        "GET",
        "/api/v1/audit",
        audit,
        "Admin actions, newest first",
        query=AuditQuery,
        response=AuditList,
        errors=(400,),
    ),
]
