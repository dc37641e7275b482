"""``/api/v1/queues``: counts and health per queue; pause and resume."""

from __future__ import annotations

import re

from aiohttp import web

from services.api.auth import ROLE
from services.api.errors import ApiError
from services.api.models import QUEUE_PATTERN, PauseOut, QueueList, QueueOut
from services.api.openapi import Route
from services.api.state import REGISTRY, record
from shared import catalog, keys, transitions
from shared.registry import AsyncRegistry


async def queue_health(registry: AsyncRegistry) -> tuple[list[QueueOut], int]:
    """Every queue's counts and health, and the Redis clock they were read at."""
    names = sorted(set(await registry.queues()) | set(catalog.queues()))
    health = await registry.run(transitions.queue_health(names))
    paused = set(await registry.client.smembers(keys.PAUSED))
    now_ms = await registry.now_ms()
    queues = [
        QueueOut(
            name=name,
            paused=name in paused,
            counts=h.counts,
            oldest_waiting_s=h.oldest_waiting_s(now_ms),
            completed_per_s=h.completed_per_s,
            failed_per_s=h.failed_per_s,
        )
        for name, h in health.items()
    ]
    return queues, now_ms


async def list_queues(request: web.Request) -> web.Response:
    queues, _ = await queue_health(request.app[REGISTRY])
    return web.json_response(QueueList(queues=queues).model_dump(mode="json"))


def queue_name(request: web.Request) -> str:
    """The ``{queue}`` path parameter, validated."""
    name = request.match_info["queue"]
    if not re.match(QUEUE_PATTERN, name):
        raise ApiError(400, "bad_request", "queue names are 1-200 letters, digits or _.:-")
    return name


async def pause_queue(request: web.Request) -> web.Response:
    """Nothing more starts on the queue; running jobs finish."""
    queue = queue_name(request)
    changed = await request.app[REGISTRY].run(transitions.pause(queue, who=request[ROLE].value))
    record(request, "pause", int(changed))
    return web.json_response(PauseOut(queue=queue, paused=True, changed=changed).model_dump())


async def resume_queue(request: web.Request) -> web.Response:
    queue = queue_name(request)
    changed = await request.app[REGISTRY].run(transitions.resume(queue, who=request[ROLE].value))
    record(request, "resume", int(changed))
    return web.json_response(PauseOut(queue=queue, paused=False, changed=changed).model_dump())


ROUTES = [
    Route("GET", "/api/v1/queues", list_queues, "Counts and health of every queue", response=QueueList),
    Route(
        "POST",
        "/api/v1/queues/{queue}/pause",
        pause_queue,
        "Pause a queue",
        response=PauseOut,
        errors=(400, 403),
    ),
    Route(
        "POST",
        "/api/v1/queues/{queue}/resume",
        resume_queue,
        "Resume a queue",
        response=PauseOut,
        errors=(400, 403),
    ),
]
