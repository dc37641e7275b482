"""``/api/v1/jobs``: submit, read, list and act on jobs; each action one atomic script."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.api import uploads, validation
from services.api.auth import acting
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
from shared import catalog, galleries, transitions
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
        if face.gallery is not None:
            await galleries.require(registry.client, face.gallery)  # before storing anything
        info = await uploads.store(request, uploads.decode_base64(face.image, request.app[SETTINGS]))
        options = face.model_dump(include={"priority", "delay_ms", "max_retries"})
        return await _submit_search(
            request, SearchRequest(info.sha256, face.gallery, face.top_k, face.threshold), options
        )
    spec = validation.validate(data, SubmitJob)
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
    return job_json(await request.app[REGISTRY].get(request.match_info["job_id"]))


async def list_jobs(request: web.Request) -> web.Response:
    params = validation.query(request, ListJobsQuery)
    registry = request.app[REGISTRY]
    if params.queue and params.state and not params.q:
        if params.cursor and ":" not in params.cursor:
            raise ApiError(400, "bad_request", "cursor: belongs to a newest-first search")
        call = transitions.list_jobs(params.queue, params.state, params.limit, params.cursor)
    else:
        if params.cursor and ":" in params.cursor:
            raise ApiError(400, "bad_request", "cursor: belongs to a listing by queue and state")
        actor = params.q if params.q and params.q in catalog.CATALOG else ""
        prefix = "" if actor or not params.q else params.q.lower()
        call = transitions.search_jobs(
            params.limit,
            params.cursor,
            queue=params.queue or "",
            state=params.state.value if params.state else "",
            prefix=prefix,
            actor=actor,
        )
    jobs, cursor = await registry.run(call)
    page = JobList(jobs=[JobOut(j) for j in jobs], next_cursor=cursor)
    return web.json_response(page.model_dump(mode="json"))


async def _act(request: web.Request, action: str) -> web.Response:
    registry, who = request.app[REGISTRY], acting(request)
    job = await registry.get(request.match_info["job_id"])
    if action == "retry":
        state = await registry.run(transitions.retry(job.id, job.queue, who=who))
    elif action == "promote":
        state = await registry.run(transitions.promote(job.id, job.queue, who=who))
    elif action == "priority":
        body = await validation.body(request, SetPriority)
        state = await registry.run(transitions.set_priority(job.id, job.queue, body.priority, who=who))
    else:
        force = validation.query(request, ForceQuery).force
        ttl_ms = registry.settings.trash_ttl_s * 1000
        state = await registry.run(
            transitions.delete(job.id, job.queue, force=force, who=who, trash_ttl_ms=ttl_ms)
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
    ),
    Route(
        "GET",
        "/api/v1/jobs",
        list_jobs,
        "List jobs: newest first, or one queue and state in its order",
        query=ListJobsQuery,
        response=JobList,
        errors=(400,),
    ),
    Route(
        "GET",
        "/api/v1/jobs/{job_id}",
        get_job,
        "Read a job with its timeline",
        response=JobOut,
        errors=(404,),
    ),
    Route(
        "POST",
        "/api/v1/jobs/{job_id}/retry",
        retry_job,
        "Retry a failed job",
        response=Transition,
        errors=(403, 404, 409),
    ),
    Route(
        "POST",
        "/api/v1/jobs/{job_id}/promote",
        promote_job,
        "Run a delayed job now",
        response=Transition,
        errors=(403, 404, 409),
    ),
    Route(
        "PUT",
        "/api/v1/jobs/{job_id}/priority",
        set_job_priority,
        "Change a job's priority",
        body=SetPriority,
        response=Transition,
        errors=(400, 403, 404, 409, 415, 422),
    ),
    Route(
        "DELETE",
        "/api/v1/jobs/{job_id}",
        delete_job,
        "Delete a job",
        query=ForceQuery,
        response=Transition,
        errors=(400, 403, 404, 409),
    ),
]
