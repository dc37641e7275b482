"""``GET /api/v1/actors``: the catalog, so a client can offer every actor with its argument schema."""

from __future__ import annotations

from aiohttp import web

from services.api.models import ActorList, ActorOut
from services.api.openapi import Route
from shared.catalog import CATALOG


async def list_actors(request: web.Request) -> web.Response:
    actors = [
        ActorOut(name=spec.name, queue=spec.queue, doc=spec.doc, args=spec.schema())
        for spec in sorted(CATALOG.values(), key=lambda s: (s.queue, s.name))
    ]
    return web.json_response(ActorList(actors=actors).model_dump())


ROUTES = [
    Route(
        "GET",
        "/api/v1/actors",
        list_actors,
        "Every actor a job may name, with its arguments",
        response=ActorList,
        scoped=True,  # the catalog: no queue's data
    ),
]
