"""``/api/v1/retention`` and ``/api/v1/queues/{queue}/retention``: how long finished jobs are kept.

Reading shows every queue's effective policy; an admin sets a queue's own policy
or drops it (back to the defaults). The monitor enforces policies continuously.
"""

from __future__ import annotations

from aiohttp import web

from services.api import validation
from services.api.auth import acting, caller
from services.api.models import QueueRetention, RetentionList, RetentionPolicy
from services.api.openapi import Route
from services.api.queues import known_queue
from services.api.state import REGISTRY, record
from shared import catalog
from shared.registry import AsyncRegistry
from shared.retention import Retention, read_policy, set_policy


async def _of(registry: AsyncRegistry, queue: str) -> QueueRetention:
    policy, custom = await read_policy(registry, queue)
    return QueueRetention(queue=queue, policy=RetentionPolicy(**policy.to_dict()), custom=custom)


async def list_retention(request: web.Request) -> web.Response:
    registry = request.app[REGISTRY]
    names = caller(request).visible(sorted(set(await registry.queues()) | set(catalog.queues())))
    out = RetentionList(
        defaults=RetentionPolicy(**Retention.defaults(registry.settings).to_dict()),
        queues=[await _of(registry, name) for name in names],
    )
    return web.json_response(out.model_dump(mode="json"))


async def set_retention(request: web.Request) -> web.Response:
    """Give the queue its own policy (all four bounds)."""
    queue = await known_queue(request)
    body = await validation.body(request, RetentionPolicy)
    registry = request.app[REGISTRY]
    await registry.run(set_policy(queue, Retention(**body.model_dump()), who=acting(request)))
    record(request, "retention", 1)
    return web.json_response((await _of(registry, queue)).model_dump(mode="json"))


async def reset_retention(request: web.Request) -> web.Response:
    """Drop the queue's own policy: the defaults apply again."""
    queue = await known_queue(request)
    registry = request.app[REGISTRY]
    await registry.run(set_policy(queue, None, who=acting(request)))
    record(request, "retention", 1)
    return web.json_response((await _of(registry, queue)).model_dump(mode="json"))


ROUTES = [
    Route(
        "GET",
        "/api/v1/retention",
        list_retention,
        "Every queue's retention of finished jobs, and the defaults",
        response=RetentionList,
        scoped=True,
    ),
    Route(
        "PUT",
        "/api/v1/queues/{queue}/retention",
        set_retention,
        "Set a queue's retention of finished jobs",
        body=RetentionPolicy,
        response=QueueRetention,
        errors=(400, 403, 404, 415, 422),
    ),
    Route(
        "DELETE",
        "/api/v1/queues/{queue}/retention",
        reset_retention,
        "Return a queue to the default retention",
        response=QueueRetention,
        errors=(400, 403, 404),
    ),
]
