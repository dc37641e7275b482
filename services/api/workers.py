"""``/api/v1/workers``: list worker processes; remove one (drain if live, forget if dead)."""

from __future__ import annotations

from aiohttp import web

from services.api.auth import acting
from services.api.models import WorkerList, WorkerRemoval
from services.api.openapi import Route
from services.api.state import REGISTRY
from shared import catalog, worker_calls
from shared.registry import reap_call
from shared.workers import read_workers


async def list_workers(request: web.Request) -> web.Response:
    registry = request.app[REGISTRY]
    now_ms = await registry.now_ms()
    workers = await read_workers(registry.client, now_ms, registry.settings)
    return web.json_response(WorkerList(workers=workers).model_dump(mode="json"))


async def remove_worker(request: web.Request) -> web.Response:
    """202 while a live worker drains; 200 once a dead one is forgotten; 404 for unknown ids."""
    registry = request.app[REGISTRY]
    worker_id = request.match_info["worker_id"]
    queues = sorted(set(await registry.queues()) | set(catalog.queues()))
    # Reap first: a worker that stopped beating gives its jobs back before it is forgotten.
    await registry.run(reap_call(registry.settings, worker_id, queues))
    outcome = await registry.run(worker_calls.remove_worker(worker_id, acting(request)))
    return web.json_response(
        {"worker": worker_id, "outcome": outcome}, status=202 if outcome == "draining" else 200
    )


ROUTES = [
    Route(
        "GET",
        "/api/v1/workers",
        list_workers,
        "Worker processes, live and recently dead",
        response=WorkerList,
    ),
    Route(
        "DELETE",
        "/api/v1/workers/{worker_id}",
        remove_worker,
        "Drain a live worker or forget a dead one",
        response=WorkerRemoval,
        status=202,
        errors=(403, 404),
    ),
]
