"""Who may call the API: an admin token (everything) and a viewer token (reads only).

With no token configured the API refuses every ``/api/v1`` call, so it never
runs open by accident; ``facequeue up`` generates an admin token for local use.
"""

from __future__ import annotations

from aiohttp import web

from services.api.errors import Handler, error_response
from shared.auth import Role, configured, role_of
from shared.http import SETTINGS

#: Paths anyone may read: probes, metrics, the page shell and the API's own description.
PUBLIC_PATHS = frozenset({"/", "/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"})
#: Methods a viewer may use.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


#: The caller's role, set by the middleware for handlers (audit "who").
ROLE = web.RequestKey("role", Role)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in PUBLIC_PATHS or not request.path.startswith("/api/"):
        return await handler(request)
    settings = request.app[SETTINGS]
    if not configured(settings):
        return error_response(401, "unauthorized", "no API token is configured: set FQ_ADMIN_TOKEN")
    role = role_of(settings, request.headers, request.cookies)
    if role is None:
        return error_response(
            401, "unauthorized", "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    if role is Role.VIEWER and request.method not in READ_METHODS:
        return error_response(403, "forbidden", "the viewer role may only read")
    request[ROLE] = role
    return await handler(request)
