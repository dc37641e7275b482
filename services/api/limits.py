"""``/api/v1/limits`` and ``/api/v1/queues/{queue}/limits``: per-queue concurrency and rate limits.

Reading shows each queue's limits and how much of them is in use ("3/4 running,
17/20 per s"); an admin sets them, and the dispatch script applies them from its
next call (issue 21).
"""

from __future__ import annotations

from aiohttp import web

from services.api import validation
from services.api.auth import acting
from services.api.models import LimitsIn, LimitsList, LimitsOut
from services.api.openapi import Route
from services.api.queues import known_queue
from services.api.state import REGISTRY, record
from shared import catalog
from shared.auth import Permission
from shared.limits import Limits, read_usage, set_limits
from shared.registry import AsyncRegistry


async def _of(registry: AsyncRegistry, queue: str) -> LimitsOut:
    usage = await read_usage(registry, queue)
    return LimitsOut(
        queue=queue,
        concurrency=usage.limits.concurrency,
        rate_limit=usage.limits.rate_limit,
        rate_window_s=usage.limits.rate_window_s,
        in_use=usage.in_use,
        in_window=usage.in_window,
        limited_wait_s=usage.limited_wait_ms / 1000,
    )


async def list_limits(request: web.Request) -> web.Response:
    registry = request.app[REGISTRY]
    names = sorted(set(await registry.queues()) | set(catalog.queues()))
    out = LimitsList(queues=[await _of(registry, name) for name in names])
    return web.json_response(out.model_dump(mode="json"))


async def get_limits(request: web.Request) -> web.Response:
    queue = await known_queue(request, Permission.READ)
    return web.json_response((await _of(request.app[REGISTRY], queue)).model_dump(mode="json"))


async def put_limits(request: web.Request) -> web.Response:
    """Set the queue's limits (both null: unlimited); effective from the next dispatch."""
    queue = await known_queue(request)
    body = await validation.body(request, LimitsIn)
    registry = request.app[REGISTRY]
    limits = Limits(body.concurrency, body.rate_limit, body.rate_window_s)
    await registry.run(set_limits(queue, limits, who=acting(request)))
    record(request, "limits", 1)
    return web.json_response((await _of(registry, queue)).model_dump(mode="json"))


ROUTES = [
    Route("GET", "/api/v1/limits", list_limits, "Every queue's limits and their use", response=LimitsList),
    Route(
        "GET",
        "/api/v1/queues/{queue}/limits",
        get_limits,
        "A queue's limits and their use",
        response=LimitsOut,
        errors=(400, 404),
        scoped=True,
    ),
    Route(
        "PUT",
        "/api/v1/queues/{queue}/limits",
        put_limits,
        "Set a queue's concurrency and rate limits",
        body=LimitsIn,
        response=LimitsOut,
        errors=(400, 403, 404, 415, 422),
    ),
]
