"""Who may call the API: an admin token (everything) and a viewer token (reads only).

API clients send ``Authorization: Bearer``; the dashboard logs in once and then
carries a session cookie whose record lives in Redis (shared/sessions.py). A
cookie-authenticated mutation must also carry the ``X-Facequeue-CSRF`` header, which
a cross-site form cannot set. With no token configured the API refuses every
``/api/v1`` call, so it never runs open by accident; ``facequeue up`` generates one.
"""

from __future__ import annotations

from aiohttp import web

from services.api.errors import Handler
from services.api.state import LIMITER, SESSIONS
from shared.auth import Role, configured
from shared.http import SETTINGS, error_response, origin
from shared.logging import get_logger
from shared.sessions import SESSION_COOKIE, Caller

log = get_logger(__name__)

#: Paths anyone may read: probes, metrics, the page shell and its config, the API's description
#: and the session endpoints, which check credentials themselves (static files are public too).
PUBLIC_PATHS = frozenset(
    {
        "/",
        "/healthz",
        "/readyz",
        "/metrics",
        "/config.json",
        "/api/v1/openapi.json",
        "/api/v1/session",
        "/api/v1/session/code",
    }
)
#: Methods a viewer may use (and that need no CSRF header).
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Header a cookie-authenticated mutation must carry.
CSRF_HEADER = "X-Facequeue-CSRF"

#: The caller's role, set by the middleware for handlers (audit "who").
ROLE = web.RequestKey("role", Role)


def acting(request: web.Request) -> str:
    """Who an admin script records: ``role|client address`` (the prelude's ``acting`` splits it;
    the audit keeps the address the request came from, through trusted proxies)."""
    return f"{request[ROLE].value}|{origin(request).address}"


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in PUBLIC_PATHS or not request.path.startswith("/api/"):
        return await handler(request)
    settings = request.app[SETTINGS]
    if not configured(settings):
        return error_response(401, "unauthorized", "no API token is configured: set FQ_ADMIN_TOKEN")
    caller = await request.app[SESSIONS].identify(request.headers, request.cookies)
    if caller.role is None:
        return await refuse(request, caller, "a valid bearer token or session is required")
    if request.method not in READ_METHODS:
        if caller.role is Role.VIEWER:
            return error_response(403, "forbidden", "the viewer role may only read")
        if caller.via == "cookie" and request.headers.get(CSRF_HEADER) != "1":
            return error_response(
                403, "csrf", f"cookie-authenticated changes need the {CSRF_HEADER}: 1 header"
            )
    request[ROLE] = caller.role
    return await handler(request)


async def too_many(request: web.Request, caller: Caller) -> web.Response | None:
    """Count a wrong credential; a 429 when its address or token prefix is past the limit."""
    if not caller.presented:
        return None
    address = origin(request).address
    wait = await request.app[LIMITER].fail(address, caller.token)
    log.info(
        "credential refused", client=address, via=caller.via, path=request.path, limited=wait is not None
    )
    if wait is None:
        return None
    return error_response(
        429,
        "too_many_attempts",
        f"too many wrong credentials from this address or token; retry in {wait} s",
        headers={"Retry-After": str(wait)},
    )


async def refuse(request: web.Request, caller: Caller, message: str) -> web.Response:
    """401 for a missing or wrong credential (429 past the failure limit); a dead cookie is cleared."""
    response = await too_many(request, caller) or error_response(
        401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"}
    )
    if caller.via == "cookie":
        response.del_cookie(SESSION_COOKIE, path="/")
    return response
