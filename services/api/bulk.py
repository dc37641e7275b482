"""``POST /api/v1/jobs/bulk`` and ``POST /api/v1/queues/{queue}/clean``: thin wrappers over operations.

Both used to loop over their jobs inside the request: a filter matching millions of jobs
held the request open for minutes, and a dropped connection left it unknown how far it
got (issue 20). Each now creates the operation ``POST /api/v1/operations`` would and
answers 202 with it at once; the monitor runs it in short batches, cancellable, its
deletions undoable, its progress streamed as ``operation`` events.
"""

from __future__ import annotations

from aiohttp import web

from services.api import operations, validation
from services.api.models import (
    BulkAction,
    BulkByIds,
    CleanOperations,
    CleanQueue,
    OperationByFilter,
    OperationByIds,
    OperationFilter,
    OperationOut,
)
from services.api.openapi import Route
from services.api.queues import known_queue
from shared.auth import Permission
from shared.states import JobState


async def bulk_action(request: web.Request) -> web.Response:
    """Exactly one of ids and filter; the same checks, permissions and answer as an operation."""
    spec = (await validation.body(request, BulkAction)).root
    op: OperationByIds | OperationByFilter
    if isinstance(spec, BulkByIds):
        op = OperationByIds(action=spec.action.value, force=spec.force, ids=spec.ids)
    else:
        target = OperationFilter(queue=spec.filter.queue, state=spec.filter.state)
        op = OperationByFilter(action=spec.action.value, force=spec.force, filter=target)
    return operations.accepted(await operations.launch(request, op))


async def clean_queue(request: web.Request) -> web.Response:
    """One clean operation per state named: its finished jobs older than ``older_than_s``."""
    queue = await known_queue(request, permission=Permission.ACT)
    spec = await validation.body(request, CleanQueue)
    made = []
    for state in dict.fromkeys(spec.states):
        target = OperationFilter(queue=queue, state=JobState(state))
        op = OperationByFilter(action="clean", older_than_s=spec.older_than_s, filter=target)
        made.append(await operations.launch(request, op, part=state))
    ops = [OperationOut.model_validate(operations.out(op)) for op in made]
    return web.json_response(CleanOperations(queue=queue, operations=ops).model_dump(), status=202)


ROUTES = [
    Route(
        "POST",
        "/api/v1/jobs/bulk",
        bulk_action,
        "Retry, delete or promote many jobs: a shorthand for POST /api/v1/operations (202)",
        body=BulkAction,
        response=OperationOut,
        status=202,
        errors=(400, 403, 404, 413, 415, 422),
        permission=Permission.ACT,
        scoped=True,
    ),
    Route(
        "POST",
        "/api/v1/queues/{queue}/clean",
        clean_queue,
        "Remove old finished jobs: one clean operation per state (202)",
        body=CleanQueue,
        response=CleanOperations,
        status=202,
        errors=(400, 403, 404, 415, 422),
        permission=Permission.ACT,
        scoped=True,
    ),
]
