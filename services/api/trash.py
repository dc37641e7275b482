"""``/api/v1/trash``: deleted jobs (issue 20), listed and restored one by one.

A deleted job (single DELETE, bulk or operation) waits in the trash for ``FQ_TRASH_TTL_S``;
the trash index is kept exact by job_delete.lua, op_batch.lua and trash_restore.lua (no
scans). An operation's deletions are undone together (``POST /api/v1/operations/{id}/undo``);
any single one comes back with ``POST /api/v1/trash/{job_id}/restore``.
"""

from __future__ import annotations

from aiohttp import web

from services.api import validation
from services.api.auth import acting, require
from services.api.errors import ApiError
from services.api.models import MAX_JOB_ID, Transition, TrashEntry, TrashList, TrashQuery
from services.api.openapi import Route
from services.api.operations import read
from services.api.state import REGISTRY, record
from shared import actions, keys
from shared.auth import Permission
from shared.registry import AsyncRegistry


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


async def restore_job(request: web.Request) -> web.Response:
    """One deleted job back to the state it was in; 404 when it is not in the trash."""
    job_id = request.match_info["job_id"]
    registry = request.app[REGISTRY]
    queue: str | None = None
    if len(job_id) <= MAX_JOB_ID:
        queue = await registry.client.hget(keys.trash_job_key(job_id), "queue")  # type: ignore[assignment]
    if queue is None:
        raise ApiError(404, "job_not_found", f"job {job_id!r} is not in the trash")
    require(request, Permission.ACT, queue=queue)
    state = await registry.run(actions.restore(job_id, who=acting(request)))
    record(request, "restore", 1)
    return web.json_response(Transition(id=job_id, state=state).model_dump())


ROUTES = [
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
    Route(
        "POST",
        "/api/v1/trash/{job_id}/restore",
        restore_job,
        "Restore one deleted job to the state it was in (409 when its id is taken again)",
        response=Transition,
        errors=(403, 404, 409),
        permission=Permission.ACT,
        scoped=True,
    ),
]
