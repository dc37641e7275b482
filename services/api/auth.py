"""Who may call the API: an admin token (everything) and a viewer token (reads only).

With no token configured the API refuses every ``/api/v1`` call, so it never
runs open by accident; ``facequeue up`` generates an admin token for local use.
"""

from __future__ import annotations

import enum
import hmac

from aiohttp import web

from services.api.errors import Handler, error_response
from shared.http import SETTINGS

#: Paths anyone may read: probes, metrics, the page shell and the API's own description.
PUBLIC_PATHS = frozenset({"/", "/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"})
#: Methods a viewer may use.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Role(enum.StrEnum):
    """What a caller may do."""

    #: Every call.
    ADMIN = "admin"
    #: Reads only.
    VIEWER = "viewer"


#: The caller's role, set by the middleware for handlers (audit "who").
ROLE = web.RequestKey("role", Role)


def role_of(request: web.Request) -> Role | None:
    """The role a request's bearer token grants, if any."""
    settings = request.app[SETTINGS]
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    if settings.admin_token and hmac.compare_digest(token.strip(), settings.admin_token):
        return Role.ADMIN
    if settings.viewer_token and hmac.compare_digest(token.strip(), settings.viewer_token):
        return Role.VIEWER
    return None


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in PUBLIC_PATHS or not request.path.startswith("/api/"):
        return await handler(request)
    settings = request.app[SETTINGS]
    if not (settings.admin_token or settings.viewer_token):
        return error_response(401, "unauthorized", "no API token is configured: set FQ_ADMIN_TOKEN")
    role = role_of(request)
    if role is None:
        return error_response(
            401, "unauthorized", "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    if role is Role.VIEWER and request.method not in READ_METHODS:
        return error_response(403, "forbidden", "the viewer role may only read")
    request[ROLE] = role
    return await handler(request)
