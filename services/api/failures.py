"""``/api/v1/failures``: failure groups (issue 20).

Read from indexes the scripts keep exact (job_fail.lua and every script removing a failed
job): no scans. A failure group is also an operation filter (``{"queue", "state": "failed",
"fingerprint"}``).
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
)
from services.api.openapi import Route
from services.api.queues import require_known
from services.api.state import REGISTRY
from shared import keys, records
from shared.auth import Permission
from shared.jobs import Job


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
    groups = [records.from_hash(FailureGroupOut, r, queue=params.queue) for r in rows if r]
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
]
