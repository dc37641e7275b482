"""``/api/v1/jobs``: submit, read, list and act on jobs; each action one atomic script."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiohttp import web

from services.api import uploads, validation
from services.api.auth import acting, caller, require
from services.api.errors import ApiError
from services.api.models import (
    FaceSearchForm,
    ForceQuery,
    JobList,
    JobOut,
    ListJobsQuery,
    SetPriority,
    SubmitFaceSearch,
    SubmitJob,
    SubmitRequest,
    Transition,
)
from services.api.openapi import Route
from services.api.state import REGISTRY, record
from shared import actions, catalog, galleries, reads, search
from shared.auth import Permission
from shared.face_jobs import FACE_QUEUE, SearchRequest
from shared.http import SETTINGS
from shared.jobs import Job
from shared.submit import submit_async


def job_json(job: Job, status: int = 200) -> web.Response:
    return web.json_response(JobOut(job).model_dump(mode="json"), status=status)


async def submit_job(request: web.Request) -> web.Response:
    """201 with the new job: a face search (JSON with ``image``, or multipart) or any actor by name."""
    registry = request.app[REGISTRY]
    if uploads.is_multipart(request):
        form = await uploads.read_form(request, FaceSearchForm)
        require(request, Permission.ACT, queue=FACE_QUEUE)
        if form.gallery is not None:
            await galleries.require(registry.client, form.gallery)  # before storing anything
        info = await uploads.store(request, form.image)
        options = form.model_dump(exclude={"image", "gallery", "top_k", "threshold"})
        search = SearchRequest(info.sha256, form.gallery, form.top_k, form.threshold)
        return await _submit_search(request, search, options)
    data = await validation.json_data(request, uploads.json_limit(request.app[SETTINGS]))
    if isinstance(data, dict) and "image" in data:
        face = validation.validate(data, SubmitFaceSearch)
        if face.queue not in (None, FACE_QUEUE):
            raise ApiError(422, "validation_error", f"queue: face searches run on {FACE_QUEUE!r}")
        require(request, Permission.ACT, queue=FACE_QUEUE)
        if face.gallery is not None:
            await galleries.require(registry.client, face.gallery)  # before storing anything
        info = await uploads.store(request, uploads.decode_base64(face.image, request.app[SETTINGS]))
        options = face.model_dump(include={"priority", "delay_ms", "max_retries"})
        return await _submit_search(
            request, SearchRequest(info.sha256, face.gallery, face.top_k, face.threshold), options
        )
    spec = validation.validate(data, SubmitJob)
    actor = catalog.CATALOG.get(spec.actor)
    require(request, Permission.ACT, queue=spec.queue or (actor.queue if actor else None))
    job_id = await submit_async(
        registry,
        spec.actor,
        spec.args,
        queue=spec.queue,
        priority=spec.priority,
        delay_ms=spec.delay_ms,
        max_retries=spec.max_retries,
    )
    return job_json(await registry.get(job_id), status=201)


async def _submit_search(
    request: web.Request, search: SearchRequest, options: dict[str, Any]
) -> web.Response:
    registry = request.app[REGISTRY]
    job_id = await submit_async(registry, "face_search", [search.to_arg()], **options)
    return job_json(await registry.get(job_id), status=201)


async def get_job(request: web.Request) -> web.Response:
    job = await request.app[REGISTRY].get(request.match_info["job_id"])
    require(request, Permission.READ, queue=job.queue)  # another queue's job: 404
    return job_json(job)


async def list_jobs(request: web.Request) -> web.Response:
    params = validation.query(request, ListJobsQuery)
    registry = request.app[REGISTRY]
    if params.queue:
        require(request, Permission.READ, queue=params.queue)
    elif (scope := caller(request).queues) is not None and len(scope) == 1:
        params = params.model_copy(update={"queue": next(iter(scope))})
    if params.queue and params.state and not params.q:
        if params.cursor and ":" not in params.cursor:
            raise ApiError(400, "bad_request", "cursor: belongs to a newest-first search")
        jobs, cursor = await registry.run(
            reads.list_jobs(params.queue, params.state, params.limit, params.cursor)
        )
        page = JobList(jobs=[JobOut(j) for j in jobs if caller(request).sees(j.queue)], next_cursor=cursor)
        return web.json_response(page.model_dump(mode="json"))
    if params.cursor and not params.cursor.startswith("s."):
        raise ApiError(400, "bad_request", "cursor: belongs to a listing by queue and state")
    query = search.parse(params.q or "")
    if params.queue:
        query = replace(query, queue=params.queue)
    if params.state:
        query = replace(query, state=params.state.value)
    start = search.decode_cursor(params.cursor) if params.cursor else b""
    found = await registry.run(reads.find_jobs(query, params.limit, start, params.budget))
    driver = query.driver
    identity = caller(request)
    # A search over every queue (a scope of several queues) counts other queues' jobs too: a scoped
    # caller gets those counts only when the search was of one queue of its own.
    counted = identity.queues is None or (query.queue != "" and identity.sees(query.queue))
    page = JobList(
        jobs=[JobOut(j) for j in found.jobs if identity.sees(j.queue)],  # a scope of several queues
        next_cursor=search.encode_cursor(found.cursor) if found.cursor else None,
        scanned=found.scanned if counted else None,
        candidates=found.candidates if counted else None,
        indexed=driver.name if driver else None,
    )
    return web.json_response(page.model_dump(mode="json"))


async def _act(request: web.Request, action: str) -> web.Response:
    registry, who = request.app[REGISTRY], acting(request)
    job = await registry.get(request.match_info["job_id"])
    require(request, Permission.ACT, queue=job.queue)
    if action == "retry":
        state = await registry.run(actions.retry(job.id, job.queue, who=who))
    elif action == "promote":
        state = await registry.run(actions.promote(job.id, job.queue, who=who))
    elif action == "priority":
        body = await validation.body(request, SetPriority)
        state = await registry.run(actions.set_priority(job.id, job.queue, body.priority, who=who))
    else:
        force = validation.query(request, ForceQuery).force
        ttl_ms = registry.settings.trash_ttl_s * 1000
        state = await registry.run(
            actions.delete(job.id, job.queue, force=force, who=who, trash_ttl_ms=ttl_ms)
        )
    record(request, action, 1)
    return web.json_response(Transition(id=job.id, state=state).model_dump())


async def retry_job(request: web.Request) -> web.Response:
    """failed -> waiting; 409 naming the state otherwise."""
    return await _act(request, "retry")


async def promote_job(request: web.Request) -> web.Response:
    """delayed -> waiting now; 409 naming the state otherwise."""
    return await _act(request, "promote")


async def set_job_priority(request: web.Request) -> web.Response:
    """Re-score a waiting or delayed job; 409 for other states."""
    return await _act(request, "priority")


async def delete_job(request: web.Request) -> web.Response:
    """Remove a job in any state but active (active needs ?force=true)."""
    return await _act(request, "delete")


ROUTES = [
    Route(
        "POST",
        "/api/v1/jobs",
        submit_job,
        "Submit a job: a face search (JSON or multipart upload) or any actor by name",
        body=SubmitRequest,
        form=FaceSearchForm,
        response=JobOut,
        status=201,
        errors=(400, 403, 404, 413, 415, 422),
        permission=Permission.ACT,
        scoped=True,
    ),
    Route(
        "GET",
        "/api/v1/jobs",
        list_jobs,
        "List jobs: newest first, or one queue and state in its order",
        query=ListJobsQuery,
        response=JobList,
        errors=(400, 403, 404),
        scoped=True,
    ),
    Route(
        "GET",
        "/api/v1/jobs/{job_id}",
        get_job,
        "Read a job with its timeline",
        response=JobOut,
        errors=(404,),
        scoped=True,
    ),
    Route(
        "POST",
        "/api/v1/jobs/{job_id}/retry",
        retry_job,
        "Retry a failed job",
        response=Transition,
        errors=(403, 404, 409),
        permission=Permission.ACT,
        scoped=True,
    ),
    Route(
        "POST",
        "/api/v1/jobs/{job_id}/promote",
        promote_job,
        "Run a delayed job now",
        response=Transition,
        errors=(403, 404, 409),
        permission=Permission.ACT,
        scoped=True,
    ),
    Route(
        "PUT",
        "/api/v1/jobs/{job_id}/priority",
        set_job_priority,
        "Change a job's priority",
        body=SetPriority,
        response=Transition,
        errors=(400, 403, 404, 409, 415, 422),
        permission=Permission.ACT,
        scoped=True,
    ),
    Route(
        "DELETE",
        "/api/v1/jobs/{job_id}",
        delete_job,
        "Delete a job",
        query=ForceQuery,
        response=Transition,
        errors=(400, 403, 404, 409),
        permission=Permission.ACT,
        scoped=True,
    ),
]
