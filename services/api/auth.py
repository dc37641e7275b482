"""Who may call the API, and the one permission check every endpoint uses (issue 22).

Callers prove who they are with ``Authorization: Bearer`` (a bootstrap token or a named
API key), a session cookie (the dashboard, after a token, key or SSO login; its record
lives in Redis, shared/sessions.py), or, in auth-proxy mode, the proxy's
``X-Forwarded-Email`` from a trusted proxy address. The middleware puts the caller's
:class:`~shared.auth.Identity` (name, role, queue scope) on the request as ``CALLER``.

Two layers, secure by default:

* **Per route** (the middleware): a :class:`~services.api.openapi.Route` declares the
  :class:`~shared.auth.Permission` it needs (default: READ for GET, ADMIN otherwise) and
  whether it is ``scoped`` (safe for queue-scoped callers). A caller whose role lacks the
  permission gets 403; a queue-scoped caller on a route not marked ``scoped`` gets 403.
* **Per queue** (the handler, one line): ``require(request, Permission.ACT, queue=job.queue)``
  — 403 outside the scope (404 for READ, so other queues' jobs are not even confirmed);
  ``caller(request).visible(names)`` filters lists.

A cookie-authenticated mutation must also carry the ``X-Facequeue-CSRF`` header, which a
cross-site form cannot set. With no credential configured the API refuses every ``/api/v1``
call, so it never runs open by accident; ``facequeue up`` generates a token.
"""

from __future__ import annotations

from aiohttp import web

from services.api.errors import ApiError, Handler
from services.api.openapi import ROUTE_POLICY, Policy
from services.api.state import LIMITER, SESSIONS
from shared.auth import Identity, Permission, Role, configured
from shared.forwarded import parse_ip
from shared.http import PROXIES, SETTINGS, error_response, origin
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
        "/api/v1/sso/login",
        "/api/v1/sso/callback",
    }
)
#: Methods a viewer may use (and that need no CSRF header).
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Header a cookie-authenticated mutation must carry.
CSRF_HEADER = "X-Facequeue-CSRF"

#: The caller's role, set by the middleware (kept for handlers written before issue 22).
ROLE = web.RequestKey("role", Role)
#: Who is calling: name, role, queue scope. Read it with :func:`caller`.
CALLER = web.RequestKey("caller", Identity)


def caller(request: web.Request) -> Identity:
    """The authenticated caller of this request."""
    return request[CALLER]


def require(request: web.Request, permission: Permission, queue: str | None = None) -> Identity:
    """The one permission check: the caller, or ApiError 403 (404 for reading another queue).

    Adopt it in a handler with one line, naming the queue the request concerns::

        require(request, Permission.ACT, queue=job.queue)
    """
    identity = request[CALLER]
    if not identity.allows(permission):
        raise ApiError(403, "forbidden", f"the {identity.role.value} role may not do this ({permission})")
    if queue is not None and not identity.sees(queue):
        if permission is Permission.READ:
            raise ApiError(404, "not_found", "no such resource")
        raise ApiError(403, "forbidden", f"queue {queue!r} is outside this caller's scope")
    return identity


def acting(request: web.Request) -> str:
    """Who an audited script records: ``name|role|client address`` (the prelude's ``acting``
    splits it; the address is the one the request came from, through trusted proxies)."""
    return request[CALLER].who(origin(request).address)


def _policy(request: web.Request) -> Policy:
    """The route's declared permission and scope-awareness (unknown routes: the defaults)."""
    resource = request.match_info.route.resource
    path = resource.canonical if resource is not None else request.path
    found: Policy | None = request.app.get(ROUTE_POLICY, {}).get((request.method, path))
    if found is not None:
        return found
    return Policy(Permission.READ if request.method in READ_METHODS else Permission.ADMIN, False)


def from_proxy(request: web.Request) -> bool:
    """Whether the peer itself is a trusted proxy (the only one whose identity headers count)."""
    return request.app[PROXIES].trusts(parse_ip(request.remote))


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in PUBLIC_PATHS or not request.path.startswith("/api/"):
        return await handler(request)
    settings = request.app[SETTINGS]
    if not configured(settings):
        return error_response(401, "unauthorized", "no API token is configured: set FQ_ADMIN_TOKEN")
    found = await request.app[SESSIONS].identify(
        request.headers, request.cookies, from_proxy=from_proxy(request)
    )
    identity = found.identity
    if identity is None:
        return await refuse(request, found, "a valid bearer token, key or session is required")
    policy = _policy(request)
    if not identity.allows(policy.permission):
        if identity.role is Role.VIEWER and request.method not in READ_METHODS:
            return error_response(403, "forbidden", "the viewer role may only read")
        return error_response(
            403, "forbidden", f"the {identity.role.value} role may not do this ({policy.permission})"
        )
    if identity.queues is not None and not policy.scoped:
        return error_response(403, "forbidden", "a queue-scoped caller may not use this endpoint")
    if (
        request.method not in READ_METHODS
        and found.via == "cookie"
        and request.headers.get(CSRF_HEADER) != "1"
    ):
        return error_response(403, "csrf", f"cookie-authenticated changes need the {CSRF_HEADER}: 1 header")
    request[ROLE] = identity.role
    request[CALLER] = identity
    return await handler(request)


async def too_many(request: web.Request, found: Caller) -> web.Response | None:
    """Count a wrong credential; a 429 when its address or token prefix is past the limit."""
    if not found.presented:
        return None
    address = origin(request).address
    wait = await request.app[LIMITER].fail(address, found.token)
    log.info("credential refused", client=address, via=found.via, path=request.path, limited=wait is not None)
    if wait is None:
        return None
    return error_response(
        429,
        "too_many_attempts",
        f"too many wrong credentials from this address or token; retry in {wait} s",
        headers={"Retry-After": str(wait)},
    )


async def refuse(request: web.Request, found: Caller, message: str) -> web.Response:
    """401 for a missing or wrong credential (429 past the failure limit); a dead cookie is cleared."""
    response = await too_many(request, found) or error_response(
        401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"}
    )
    if found.via == "cookie":
        response.del_cookie(SESSION_COOKIE, path="/")
    return response
