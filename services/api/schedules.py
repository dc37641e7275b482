"""``/api/v1/schedules``: cron jobs, listed with their next and last firing (issue 21).

Anyone signed in reads them; an admin creates, edits, pauses (``enabled: false``),
deletes and runs them now. Schedules declared in code are listed with ``source:
"code"``; the API may pause and run them, their definition changes in code only.
"""

from __future__ import annotations

from aiohttp import web

from services.api import validation
from services.api.auth import acting
from services.api.errors import ApiError
from services.api.models import ScheduleBody, ScheduleCreate, ScheduleList, ScheduleOut, ScheduleRun
from services.api.openapi import Route
from services.api.state import REGISTRY, record
from shared import catalog, keys
from shared.errors import ScheduleNotFound
from shared.names import NAME_RULE, is_valid_name
from shared.registry import AsyncRegistry
from shared.schedules import Schedule, fire, remove, save, submission

#: Most schedules the API lets exist (each is read by every monitor tick when due).
MAX_SCHEDULES = 1000


def _name(request: web.Request) -> str:
    name = request.match_info["schedule"]
    if not is_valid_name(name):
        raise ApiError(400, "bad_request", f"schedule names are {NAME_RULE}")
    return name


async def _read(registry: AsyncRegistry, name: str) -> Schedule:
    stored: dict[str, str] = await registry.client.hgetall(keys.schedule_key(name))  # type: ignore[assignment]
    if not stored:
        raise ScheduleNotFound(f"no schedule named {name!r}")
    return Schedule.from_hash(stored)


async def _out(registry: AsyncRegistry, s: Schedule) -> ScheduleOut:
    state: str | None = None
    if s.last_job:
        state = await registry.client.hget(keys.job_key(s.last_job), "state")  # type: ignore[assignment]
    return ScheduleOut(
        name=s.name,
        cron=s.cron,
        timezone=s.timezone,
        actor=s.actor,
        queue=s.queue,
        args=s.args,
        priority=s.priority,
        enabled=s.enabled,
        misfire=s.misfire,
        source="code" if s.source == "code" else "api",
        next_ms=s.next_ms or None,
        last_ms=s.last_ms or None,
        last_job=s.last_job or None,
        last_job_state=state,
        last_error=s.last_error or None,
    )


def _checked(name: str, body: ScheduleBody) -> Schedule:
    """The schedule a request describes, checked like a submission (422 on a bad cron, zone, actor)."""
    spec = catalog.lookup(body.actor, body.queue)
    return Schedule(
        name=name,
        cron=body.cron,
        actor=spec.name,
        queue=spec.queue,
        args=body.args,
        timezone=body.timezone,
        priority=body.priority,
        enabled=body.enabled,
        misfire=body.misfire,
    ).check()


async def list_schedules(request: web.Request) -> web.Response:
    registry = request.app[REGISTRY]
    names: list[str] = await registry.client.zrange(keys.SCHEDULES, 0, MAX_SCHEDULES - 1)  # type: ignore[assignment]
    out = []
    for name in sorted(names):
        try:
            out.append(await _out(registry, await _read(registry, name)))
        except ScheduleNotFound:  # deleted between the two reads
            continue
    return web.json_response(ScheduleList(schedules=out).model_dump(mode="json"))


async def get_schedule(request: web.Request) -> web.Response:
    registry = request.app[REGISTRY]
    return web.json_response(
        (await _out(registry, await _read(registry, _name(request)))).model_dump(mode="json")
    )


async def create_schedule(request: web.Request) -> web.Response:
    body = await validation.body(request, ScheduleCreate)
    schedule = _checked(body.name, body)
    registry = request.app[REGISTRY]
    if await registry.client.zcard(keys.SCHEDULES) >= MAX_SCHEDULES:
        raise ApiError(409, "too_many_schedules", f"at most {MAX_SCHEDULES} schedules")
    await registry.run(save(schedule, await registry.now_ms(), mode="create", who=acting(request)))
    record(request, "schedule", 1)
    return web.json_response(
        (await _out(registry, await _read(registry, body.name))).model_dump(mode="json"), status=201
    )


async def update_schedule(request: web.Request) -> web.Response:
    """Replace a schedule's definition (a code-declared one: ``enabled`` only, else 409)."""
    name = _name(request)
    body = await validation.body(request, ScheduleBody)
    registry = request.app[REGISTRY]
    current = await _read(registry, name)
    if current.source == "code":
        # Its actor may be one only the Dramatiq app knows: compare, do not re-check it.
        schedule = Schedule(**{**current.to_dict(), "enabled": body.enabled})
        if (body.cron, body.timezone, body.actor, body.args, body.priority, body.misfire) != (
            current.cron,
            current.timezone,
            current.actor,
            current.args,
            current.priority,
            current.misfire,
        ):
            raise ApiError(409, "declared_in_code", f"{name!r} is declared in code: only enabled can change")
    else:
        schedule = _checked(name, body)
    await registry.run(save(schedule, await registry.now_ms(), mode="update", who=acting(request)))
    record(request, "schedule", 1)
    return web.json_response((await _out(registry, await _read(registry, name))).model_dump(mode="json"))


async def delete_schedule(request: web.Request) -> web.Response:
    name = _name(request)
    await request.app[REGISTRY].run(remove(name, who=acting(request)))
    record(request, "schedule", 1)
    return web.Response(status=204)


async def run_schedule(request: web.Request) -> web.Response:
    """Fire the schedule now (its planned times stay as they are)."""
    registry = request.app[REGISTRY]
    schedule = await _read(registry, _name(request))
    job_id = await registry.run(
        fire(schedule, None, submission(schedule, registry.settings), who=acting(request))
    )
    record(request, "schedule_run", 1)
    return web.json_response(ScheduleRun(schedule=schedule.name, job=job_id).model_dump(), status=201)


ROUTES = [
    Route(
        "GET",
        "/api/v1/schedules",
        list_schedules,
        "Every schedule, with its next and last firing",
        response=ScheduleList,
    ),
    Route(
        "POST",
        "/api/v1/schedules",
        create_schedule,
        "Create a schedule",
        body=ScheduleCreate,
        response=ScheduleOut,
        status=201,
        errors=(400, 403, 409, 415, 422),
    ),
    Route(
        "GET",
        "/api/v1/schedules/{schedule}",
        get_schedule,
        "One schedule",
        response=ScheduleOut,
        errors=(400, 404),
    ),
    Route(
        "PUT",
        "/api/v1/schedules/{schedule}",
        update_schedule,
        "Change a schedule (pause it with enabled: false)",
        body=ScheduleBody,
        response=ScheduleOut,
        errors=(400, 403, 404, 409, 415, 422),
    ),
    Route(
        "DELETE",
        "/api/v1/schedules/{schedule}",
        delete_schedule,
        "Delete a schedule (the jobs it fired stay; one declared in code: 409 declared_in_code)",
        status=204,
        errors=(400, 403, 404, 409),
    ),
    Route(
        "POST",
        "/api/v1/schedules/{schedule}/run",
        run_schedule,
        "Run a schedule now",
        response=ScheduleRun,
        status=201,
        errors=(400, 403, 404, 422),
    ),
]
