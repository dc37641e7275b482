"""``/api/v1/operations``: bulk work the monitor runs in the background (issue 20).

Creating one fixes its target set and answers at once (202) with the operation; a dry run
answers 200 with the exact count and a sample and changes nothing. The monitor executes it
in short batches (services/monitor/operations.py); progress goes out as ``operation``
events. Every creation, cancel and finish is audited by the scripts themselves.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from typing import Any

from aiohttp import web

from services.api import validation
from services.api.auth import acting, caller, require
from services.api.errors import ApiError
from services.api.models import (
    OperationByFilter,
    OperationByIds,
    OperationList,
    OperationOut,
    OperationPreview,
    OperationRequest,
    OperationsQuery,
)
from services.api.openapi import Route
from services.api.queues import require_known
from services.api.state import REGISTRY, record
from shared import keys, operations
from shared.actions import BULK_BATCH
from shared.auth import Permission
from shared.errors import OperationNotFound
from shared.operations import FINISHED, IDS_PENDING_TTL_S, SAMPLE_SIZE, Operation
from shared.registry import AsyncRegistry
from shared.states import JobState

#: Operation ids are 32 hex digits; anything else is no operation.
_OP_ID = re.compile(r"^[0-9a-f]{32}$")
#: Longest Idempotency-Key header accepted.
MAX_IDEMPOTENCY_KEY = 200
#: The states each action applies to when given a filter (None: any).
_APPLIES = {
    "retry": {JobState.FAILED},
    "promote": {JobState.DELAYED},
    "set-priority": {JobState.WAITING, JobState.DELAYED},
    "clean": {JobState.COMPLETED, JobState.FAILED},
    "delete": None,
}


def _unprocessable(message: str) -> ApiError:
    return ApiError(422, "unprocessable", message)


def check(spec: Any) -> None:
    """Refuse what no run could do (422), before anything is read or written."""
    if (spec.action == "set-priority") != (spec.priority is not None):
        raise _unprocessable("priority is given with set-priority, and only with it")
    if spec.older_than_s and spec.action != "clean":
        raise _unprocessable("older_than_s is only for clean")
    if isinstance(spec, OperationByIds):
        if spec.action == "clean":
            raise _unprocessable("clean takes a filter, not ids")
        return
    f = spec.filter
    applies = _APPLIES[spec.action]
    if applies is not None and f.state not in applies:
        allowed = " or ".join(sorted(s.value for s in applies))
        raise _unprocessable(f"{spec.action} applies to {allowed} jobs, not {f.state.value}")
    if f.state is JobState.ACTIVE and not spec.force:
        raise _unprocessable("deleting active jobs needs force")
    if f.fingerprint is not None and (
        f.state is not JobState.FAILED or spec.action not in ("retry", "delete")
    ):
        raise _unprocessable("a failure group (fingerprint) is retried or deleted, with state failed")


class Plan:
    """What an operation targets: its source set, bound and record fields."""

    def __init__(self, source: str, bound: str, fields: dict[str, str | int]) -> None:
        self.source, self.bound, self.fields = source, bound, fields
        self.total: int | None = None
        self.skipped = 0
        self.ids: list[str] = []
        self.sample: list[str] = []
        #: The queues it touches: the caller must be allowed to act on each (issue 22).
        self.queues: list[str] = []


async def plan_filter(registry: AsyncRegistry, spec: Any) -> Plan:
    f = spec.filter
    await require_known(registry, f.queue)
    source = (
        keys.failure_group_jobs_key(f.queue, f.fingerprint)
        if f.fingerprint
        else keys.state_key(f.queue, f.state)
    )
    bound, cutoff = "last", ""
    if spec.action == "clean":
        cutoff_ms = await registry.now_ms() - spec.older_than_s * 1000
        bound, cutoff = str(cutoff_ms - 1), str(cutoff_ms)
    fields: dict[str, str | int] = {
        "action": spec.action,
        "queue": f.queue,
        "filter_state": f.state.value,
        "fingerprint": f.fingerprint or "",
        "force": int(spec.force),
        "priority": "" if spec.priority is None else spec.priority,
        "cutoff_ms": cutoff,
        "ids": 0,
        "filter": json.dumps({"queue": f.queue, "state": f.state.value, "fingerprint": f.fingerprint}),
    }
    plan = Plan(source, bound, fields)
    plan.queues = [f.queue]
    return plan


async def preview_filter(registry: AsyncRegistry, plan: Plan) -> tuple[int, list[str]]:
    """The exact count and the first few, as a real run's creation would fix them now."""
    top = "+inf" if plan.bound == "last" else plan.bound
    async with registry.client.pipeline(transaction=False) as pipe:
        pipe.zcount(plan.source, "-inf", top)
        pipe.zrangebyscore(plan.source, "-inf", top, start=0, num=SAMPLE_SIZE)
        total, sample = await pipe.execute()
    return int(total), list(sample)


async def plan_ids(registry: AsyncRegistry, spec: OperationByIds) -> Plan:
    ids = list(dict.fromkeys(spec.ids))
    found: list[str | None] = []
    for at in range(0, len(ids), BULK_BATCH):
        async with registry.client.pipeline(transaction=False) as pipe:
            for job_id in ids[at : at + BULK_BATCH]:
                pipe.hget(keys.job_key(job_id), "queue")
            found += await pipe.execute()
    segments, ordered, missing = operations.group_by_queue(ids, found)
    fields: dict[str, str | int] = {
        "action": spec.action,
        "queue": segments[0].queue if len(segments) == 1 else "",
        "filter_state": "",
        "fingerprint": "",
        "force": int(spec.force),
        "priority": "" if spec.priority is None else spec.priority,
        "cutoff_ms": "",
        "ids": len(ids),
        "segments": json.dumps([[s.queue, s.start, s.end] for s in segments]),
        "filter": "",
    }
    plan = Plan("", str(len(ordered) - 1) if ordered else "-inf", fields)
    plan.total, plan.skipped, plan.ids, plan.sample = len(ids), missing, ordered, ids[:SAMPLE_SIZE]
    plan.queues = [s.queue for s in segments]
    return plan


async def write_ids(registry: AsyncRegistry, op_id: str, ids: list[str]) -> str:
    """The operation's own ids set (position scores), with a TTL until op_create keeps it."""
    key = keys.operation_ids_key(op_id)
    for at in range(0, len(ids), BULK_BATCH):
        chunk = ids[at : at + BULK_BATCH]
        async with registry.client.pipeline(transaction=False) as pipe:
            pipe.zadd(key, {job_id: at + n for n, job_id in enumerate(chunk)})
            pipe.expire(key, IDS_PENDING_TTL_S)
            await pipe.execute()
    return key


def idempotency(request: web.Request, who: str, part: str = "") -> tuple[str, int] | None:
    """The key an Idempotency-Key header names; ``part`` tells apart the operations one request makes."""
    raw = request.headers.get("Idempotency-Key")
    if raw is None:
        return None
    if not 1 <= len(raw) <= MAX_IDEMPOTENCY_KEY or not raw.isprintable():
        raise ApiError(
            400, "bad_request", f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} printable characters"
        )
    digest = hashlib.sha256(f"{raw}\n{part}".encode() if part else raw.encode()).hexdigest()
    name = who.split("|", 1)[0]
    keep_ms = request.app[REGISTRY].settings.operation_keep_s * 1000
    return keys.operation_idempotency_key(name, digest), keep_ms


async def read(registry: AsyncRegistry, op_id: str) -> Operation:
    if not _OP_ID.match(op_id):
        raise OperationNotFound(f"no operation {op_id!r}")
    fields: dict[str, str] = await registry.client.hgetall(keys.operation_key(op_id))  # type: ignore[assignment]
    if not fields:
        raise OperationNotFound(f"no operation {op_id!r}")
    return Operation.from_hash(fields)


def out(op: Operation) -> dict[str, Any]:
    return OperationOut(
        id=op.id,
        action=op.action,
        state=op.state.value,
        queue=op.queue,
        filter_state=op.filter_state,
        fingerprint=op.fingerprint,
        ids=op.ids,
        force=op.force,
        priority=op.priority,
        cutoff_ms=op.cutoff_ms,
        total=op.total,
        done=op.done,
        skipped=op.skipped,
        created_by=op.created_by,
        created_ms=op.created_ms,
        started_ms=op.started_ms,
        finished_ms=op.finished_ms,
        undo_of=op.undo_of,
    ).model_dump()


async def start(request: web.Request, plan: Plan, *, part: str = "") -> Operation:
    """Record the operation (or find the one its Idempotency-Key made) and return it."""
    registry, who = request.app[REGISTRY], acting(request)
    key = idempotency(request, who, part)
    op_id = uuid.uuid4().hex
    source = await write_ids(registry, op_id, plan.ids) if plan.source == "" else plan.source
    made, created = await registry.run(
        operations.create(
            op_id,
            who,
            source,
            plan.fields,
            bound=plan.bound,
            skipped=plan.skipped,
            total=plan.total,
            idempotency=key,
        )
    )
    if not created and plan.source == "":
        await registry.client.delete(source)  # the key named an existing operation: this set is unused
    op = await read(registry, made)
    if created:
        record(request, "operation", op.total)
    return op


def accepted(op: Operation) -> web.Response:
    """202 with the operation and where to follow it."""
    return web.json_response(out(op), status=202, headers={"Location": f"/api/v1/operations/{op.id}"})


async def prepare(request: web.Request, spec: OperationByIds | OperationByFilter) -> Plan:
    """Check, plan and authorise ``spec``: 4xx before anything is written."""
    check(spec)
    registry = request.app[REGISTRY]
    if isinstance(spec, OperationByIds):
        plan = await plan_ids(registry, spec)
    else:
        require(request, Permission.ACT, queue=spec.filter.queue)
        plan = await plan_filter(registry, spec)
    for queue in plan.queues:  # an operator acts on their queues only, whatever the ids name
        require(request, Permission.ACT, queue=queue)
    return plan


async def launch(
    request: web.Request, spec: OperationByIds | OperationByFilter, *, part: str = ""
) -> Operation:
    """Create the operation ``spec`` describes (what the bulk and clean wrappers call)."""
    return await start(request, await prepare(request, spec), part=part)


async def create_operation(request: web.Request) -> web.Response:
    """Dry run: 200 with the exact count and a sample. Otherwise 202 with the queued operation."""
    spec = (await validation.body(request, OperationRequest)).root
    plan = await prepare(request, spec)
    if not spec.dry_run:
        return accepted(await start(request, plan))
    if plan.source == "":
        total, sample = plan.total or 0, plan.sample
    else:
        total, sample = await preview_filter(request.app[REGISTRY], plan)
    preview = OperationPreview(dry_run=True, action=spec.action, total=total, sample=sample)
    return web.json_response(preview.model_dump())


async def list_operations(request: web.Request) -> web.Response:
    """Newest first."""
    limit = validation.query(request, OperationsQuery).limit
    client = request.app[REGISTRY].client
    ids: list[str] = await client.zrevrange(keys.OPERATIONS, 0, limit - 1)  # type: ignore[assignment]
    async with client.pipeline(transaction=False) as pipe:
        for op_id in ids:
            pipe.hgetall(keys.operation_key(op_id))
        rows: list[dict[str, str]] = await pipe.execute()
    visible = [Operation.from_hash(r) for r in rows if r]
    ops = [OperationOut.model_validate(out(op)) for op in visible if caller(request).sees(op.queue)]
    return web.json_response(OperationList(operations=ops).model_dump())


async def get_operation(request: web.Request) -> web.Response:
    op = await read(request.app[REGISTRY], request.match_info["op_id"])
    require(request, Permission.READ, queue=op.queue)
    return web.json_response(out(op))


async def cancel_operation(request: web.Request) -> web.Response:
    """Stop before the next batch; 409 when it already finished."""
    registry = request.app[REGISTRY]
    op = await read(registry, request.match_info["op_id"])
    require(request, Permission.ACT, queue=op.queue)
    await registry.run(operations.cancel(op.id, acting(request)))
    record(request, "operation_cancel", 1)
    return web.json_response(out(await read(registry, op.id)))


async def undo_operation(request: web.Request) -> web.Response:
    """Restore what a finished delete operation put in the trash (itself an operation: 202)."""
    registry = request.app[REGISTRY]
    op = await read(registry, request.match_info["op_id"])
    require(request, Permission.ACT, queue=op.queue)
    if op.action != "delete":
        raise ApiError(409, "conflict", f"only delete operations can be undone, not {op.action}")
    if op.state not in FINISHED:
        raise ApiError(409, "conflict", f"a {op.state.value} operation cannot be undone until it stops")
    fields: dict[str, str | int] = {
        "action": "undo",
        "queue": op.queue,
        "filter_state": "",
        "fingerprint": "",
        "force": 0,
        "priority": "",
        "cutoff_ms": "",
        "ids": 0,
        "undo_of": op.id,
        "filter": json.dumps({"undo_of": op.id}),
    }
    return accepted(await start(request, Plan(keys.operation_trash_key(op.id), "last", fields)))


_ERRORS = (400, 403, 404, 409, 415, 422)

ROUTES = [
    Route(
        "POST",
        "/api/v1/operations",
        create_operation,
        "Start bulk work in the background (202), or preview it (dry_run: 200)",
        body=OperationRequest,
        response=OperationOut,
        status=202,
        errors=(400, 403, 404, 413, 415, 422),
        permission=Permission.ACT,
        scoped=True,
    ),
    Route(
        "GET",
        "/api/v1/operations",
        list_operations,
        "Operations, newest first",
        query=OperationsQuery,
        response=OperationList,
        errors=(400,),
        scoped=True,
    ),
    Route(
        "GET",
        "/api/v1/operations/{op_id}",
        get_operation,
        "One operation",
        response=OperationOut,
        errors=(404,),
        scoped=True,
    ),
    Route(
        "POST",
        "/api/v1/operations/{op_id}/cancel",
        cancel_operation,
        "Cancel a queued or running operation (409 when finished)",
        response=OperationOut,
        errors=(403, 404, 409),
        permission=Permission.ACT,
        scoped=True,
    ),
    Route(
        "POST",
        "/api/v1/operations/{op_id}/undo",
        undo_operation,
        "Restore what a delete operation put in the trash (202: an undo operation)",
        response=OperationOut,
        status=202,
        errors=(403, 404, 409),
        permission=Permission.ACT,
        scoped=True,
    ),
]
