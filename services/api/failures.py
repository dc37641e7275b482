"""``/api/v1/failures`` and ``/api/v1/trash``: failure groups and deleted jobs (issue 20).

Both are read from indexes the scripts keep exact (job_fail.lua and every script removing a
failed job; the trash by job_delete.lua and op_batch.lua): no scans. A failure group is also
an operation filter (``{"queue", "state": "failed", "fingerprint"}``).
"""

from __future__ import annotations

import re

from aiohttp import web

from services.api import validation
from services.api.auth import require
from services.api.errors import ApiError
from services.api.models import (
    FINGERPRINT_PATTERN,
    FailureGroupOut,
    FailureJobsQuery,
    FailureList,
    FailuresQuery,
    JobList,
    JobOut,
    TrashEntry,
    TrashList,
    TrashQuery,
)
from services.api.openapi import Route
from services.api.operations import read
from services.api.queues import require_known
from services.api.state import REGISTRY
from shared import keys
from shared.auth import Permission
from shared.jobs import Job
from shared.registry import AsyncRegistry


async def list_failures(request: web.Request) -> web.Response:
    """A queue's failure groups, most recently seen first."""
    params = validation.query(request, FailuresQuery)
    require(request, Permission.READ, queue=params.queue)
    registry = request.app[REGISTRY]
    await require_known(registry, params.queue)
    client = registry.client
    fingerprints: list[str] = await client.zrevrange(  # type: ignore[assignment]
        keys.failure_groups_key(params.queue), 0, params.limit - 1
    )
    async with client.pipeline(transaction=False) as pipe:
        for fp in fingerprints:
            pipe.hgetall(keys.failure_group_key(params.queue, fp))
        rows: list[dict[str, str]] = await pipe.execute()
    groups = [
        FailureGroupOut(
            queue=params.queue,
            fingerprint=r.get("fingerprint", ""),
            actor=r.get("actor", ""),
            exception=r.get("exception", ""),
            message=r.get("message", ""),
            count=int(r.get("count", 0)),
            first_ms=int(r.get("first_ms", 0)),
            last_ms=int(r.get("last_ms", 0)),
            sample=r.get("sample", ""),
        )
        for r in rows
        if r
    ]
    return web.json_response(FailureList(groups=groups).model_dump())


async def failure_jobs(request: web.Request) -> web.Response:
    """A failure group's failed jobs, most recent first (its set is exact: no scan)."""
    params = validation.query(request, FailureJobsQuery)
    fingerprint = request.match_info["fingerprint"]
    if not re.match(FINGERPRINT_PATTERN, fingerprint):
        raise ApiError(404, "not_found", "no such failure group")
    registry = request.app[REGISTRY]
    require(request, Permission.READ, queue=params.queue)
    await require_known(registry, params.queue)
    ids: list[str] = await registry.client.zrevrange(  # type: ignore[assignment]
        keys.failure_group_jobs_key(params.queue, fingerprint), 0, params.limit - 1
    )
    async with registry.client.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hgetall(keys.job_key(job_id))
        rows: list[dict[str, str]] = await pipe.execute()
    page = JobList(jobs=[JobOut(Job.from_hash(r)) for r in rows if r], next_cursor=None)
    return web.json_response(page.model_dump(mode="json"))


async def _entries(registry: AsyncRegistry, pairs: list[tuple[str, str, float]]) -> list[TrashEntry]:
    """Trash entries of (job, operation, deletion ms); a record already expired is left out."""
    async with registry.client.pipeline(transaction=False) as pipe:
        for job_id, _, _ in pairs:
            pipe.hmget(keys.trash_job_key(job_id), "queue", "trash_state", "actor", "trash_op")
        rows: list[list[str | None]] = await pipe.execute()
    return [
        TrashEntry(
            job=job_id, queue=row[0], state=row[1] or "", actor=row[2] or "", deleted_ms=int(ms), operation=op
        )
        for (job_id, op, ms), row in zip(pairs, rows, strict=True)
        if row[0] is not None and (row[3] or "") == op
    ]


async def list_trash(request: web.Request) -> web.Response:
    """Deleted jobs still restorable, newest first."""
    limit = validation.query(request, TrashQuery).limit
    registry = request.app[REGISTRY]
    members: list[tuple[str, float]] = await registry.client.zrevrange(  # type: ignore[assignment]
        keys.TRASH, 0, limit - 1, withscores=True
    )
    pairs = [(*m.rsplit("|", 1), ms) for m, ms in members]
    return web.json_response(TrashList(entries=await _entries(registry, pairs)).model_dump())  # type: ignore[arg-type]


async def operation_trash(request: web.Request) -> web.Response:
    """What one delete operation put in the trash and is still there (what its undo restores)."""
    limit = validation.query(request, TrashQuery).limit
    registry = request.app[REGISTRY]
    op = await read(registry, request.match_info["op_id"])
    require(request, Permission.READ, queue=op.queue)
    members: list[tuple[str, float]] = await registry.client.zrange(  # type: ignore[assignment]
        keys.operation_trash_key(op.id), 0, limit - 1, withscores=True
    )
    pairs = [(job_id, op.id, ms) for job_id, ms in members]
    return web.json_response(TrashList(entries=await _entries(registry, pairs)).model_dump())


ROUTES = [
    Route(
        "GET",
        "/api/v1/failures",
        list_failures,
        "A queue's failure groups (by fingerprint), most recently seen first",
        query=FailuresQuery,
        response=FailureList,
        errors=(400, 404),
        scoped=True,
    ),
    Route(
        "GET",
        "/api/v1/failures/{fingerprint}/jobs",
        failure_jobs,
        "A failure group's failed jobs, most recent first",
        query=FailureJobsQuery,
        response=JobList,
        errors=(400, 404),
        scoped=True,
    ),
    Route(
        "GET",
        "/api/v1/trash",
        list_trash,
        "Deleted jobs still in the trash, newest first",
        query=TrashQuery,
        response=TrashList,
        errors=(400,),
    ),
    Route(
        "GET",
        "/api/v1/operations/{op_id}/trash",
        operation_trash,
        "What a delete operation put in the trash",
        query=TrashQuery,
        response=TrashList,
        errors=(400, 404),
        scoped=True,
    ),
]
