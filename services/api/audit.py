"""``/api/v1/audit``: who did what, newest first, filtered by person, action, queue and time
(a queue-scoped caller sees only the entries of its queues). The dashboard's Audit view reads this, then
follows the gateway's ``audit`` events."""

from __future__ import annotations

import redis
from aiohttp import web

from services.api import validation
from services.api.auth import caller
from services.api.models import AuditEntry, AuditList, AuditQuery
from services.api.openapi import Route
from services.api.state import REGISTRY
from shared import keys, records
from shared.auth import Identity

#: Entries read per XREVRANGE while filtering; at most SCAN_PAGES pages per request, so a
#: filter that matches little costs bounded work (the answer then says where to go on).
SCAN_PAGE = 500
SCAN_PAGES = 20

Entry = tuple[str, dict[str, str]]


def _matches(params: AuditQuery, identity: Identity, fields: dict[str, str]) -> bool:
    ts_ms = int(fields.get("ts_ms", 0))
    return (
        (identity.queues is None or fields.get("queue", "") in identity.queues)
        and (params.person is None or fields.get("who", "") == params.person)
        and (params.action is None or fields.get("action", "") == params.action)
        and (params.queue is None or fields.get("queue", "") == params.queue)
        and (params.since_ms is None or ts_ms >= params.since_ms)
        and (params.until_ms is None or ts_ms < params.until_ms)
    )


def _entry(entry_id: str, f: dict[str, str]) -> AuditEntry:
    return records.from_hash(AuditEntry, f, id=entry_id)


async def audit(request: web.Request) -> web.Response:
    params = validation.query(request, AuditQuery)
    client = request.app[REGISTRY].client
    identity = caller(request)
    end = f"({params.before}" if params.before else "+"
    if params.until_ms is not None and not params.before:
        end = f"({params.until_ms}-0"  # stream ids start with their ms: skip newer pages at once
    found: list[AuditEntry] = []
    for _ in range(SCAN_PAGES):
        try:
            rows: list[Entry] = await client.xrevrange(  # type: ignore[assignment]
                keys.AUDIT_STREAM, max=end, min="-", count=SCAN_PAGE
            )
        except redis.ResponseError:  # "(0-0": nothing is older than the first possible id
            rows = []
        for entry_id, fields in rows:
            if _matches(params, identity, fields):
                found.append(_entry(entry_id, fields))
                if len(found) == params.limit:
                    return web.json_response(AuditList(entries=found).model_dump())
        if len(rows) < SCAN_PAGE:
            break
        oldest = rows[-1]
        if params.since_ms is not None and int(oldest[1].get("ts_ms", 0)) < params.since_ms:
            break
        end = f"({oldest[0]}"
    return web.json_response(AuditList(entries=found).model_dump())


ROUTES = [
    Route(
        "GET",
        "/api/v1/audit",
        audit,
        "Admin actions, newest first, with who, role and address; filtered by person, action, queue, time",
        query=AuditQuery,
        response=AuditList,
        errors=(400, 403),
        scoped=True,
    ),
]
