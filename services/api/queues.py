"""``/api/v1/queues``: counts and health per queue; pause and resume."""

from __future__ import annotations

from aiohttp import web

from services.api.auth import acting, caller, require
from services.api.errors import ApiError
from services.api.models import PauseOut, QueueList, QueueOut
from services.api.openapi import Route
from services.api.state import REGISTRY, record
from shared import actions, catalog, keys, reads
from shared.auth import Permission
from shared.names import NAME_RULE, is_valid_name
from shared.registry import AsyncRegistry


async def queue_health(registry: AsyncRegistry) -> tuple[list[QueueOut], int]:
    """Every queue's counts and health, and the Redis clock they were read at."""
    names = sorted(set(await registry.queues()) | set(catalog.queues()))
    health = await registry.run(reads.queue_health(names))
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
    queues = [queue for queue in queues if caller(request).sees(queue.name)]
    return web.json_response(QueueList(queues=queues).model_dump(mode="json"))


def queue_name(request: web.Request) -> str:
    """The ``{queue}`` path parameter, validated."""
    name = request.match_info["queue"]
    if not is_valid_name(name):
        raise ApiError(400, "bad_request", f"queue names are {NAME_RULE}")
    return name


async def require_known(registry: AsyncRegistry, queue: str) -> None:
    """404 unless the queue is in the catalog or already registered: an action never invents one.

    Pausing any name used to register it, so a typo (or a name chosen to collide
    with another key) became a queue every monitor tick then read (issue 16).
    """
    if queue in catalog.queues() or await registry.client.sismember(keys.QUEUES, queue):
        return
    raise ApiError(404, "queue_not_found", f"no queue named {queue!r}: not in the catalog nor registered")


async def known_queue(request: web.Request, permission: Permission = Permission.ACT) -> str:
    """The ``{queue}`` path parameter of a request about one queue: valid (400), within the
    caller's scope for ``permission`` (403, or 404 for a read), and known (404)."""
    queue = queue_name(request)
    require(request, permission, queue=queue)
    await require_known(request.app[REGISTRY], queue)
    return queue


async def pause_queue(request: web.Request) -> web.Response:
    """Nothing more starts on the queue; running jobs finish."""
    queue = await known_queue(request)
    changed = await request.app[REGISTRY].run(actions.pause(queue, who=acting(request)))
    record(request, "pause", int(changed))
    return web.json_response(PauseOut(queue=queue, paused=True, changed=changed).model_dump())


async def resume_queue(request: web.Request) -> web.Response:
    queue = await known_queue(request)
    changed = await request.app[REGISTRY].run(actions.resume(queue, who=acting(request)))
    record(request, "resume", int(changed))
    return web.json_response(PauseOut(queue=queue, paused=False, changed=changed).model_dump())


ROUTES = [
    Route(
        "GET",
        "/api/v1/queues",
        list_queues,
        "Counts and health of every queue (in the caller's scope)",
        response=QueueList,
        scoped=True,
    ),
    Route(
        "POST",
        "/api/v1/queues/{queue}/pause",
        pause_queue,
        "Pause a queue",
        response=PauseOut,
        errors=(400, 403, 404),
        permission=Permission.ACT,
        scoped=True,
    ),
    Route(
        "POST",
        "/api/v1/queues/{queue}/resume",
        resume_queue,
        "Resume a queue",
        response=PauseOut,
        errors=(400, 403, 404),
        permission=Permission.ACT,
        scoped=True,
    ),
]
