"""Who may call the API: an admin token (everything) and a viewer token (reads only).

API clients send ``Authorization: Bearer``; the dashboard logs in once and then
carries a signed HttpOnly, SameSite=Strict session cookie. A cookie-authenticated
mutation must also carry the ``X-Facequeue-CSRF`` header, which a cross-site form
cannot set. With no token configured the API refuses every ``/api/v1`` call, so it
never runs open by accident; ``facequeue up`` generates an admin token.
"""

from __future__ import annotations

from aiohttp import web

from services.api import ratelimit, validation
from services.api.errors import Handler, error_response
from services.api.models import Login, SessionOut
from services.api.openapi import Route
from shared.auth import (
    SESSION_COOKIE,
    SESSION_TTL_S,
    Role,
    configured,
    credential_of,
    issue_session,
    role_for_token,
)
from shared.http import SETTINGS

#: Paths anyone may read: probes, metrics, the page shell and its config, the API's description
#: and logging in (static files live outside /api/ and are public too).
PUBLIC_PATHS = frozenset(
    {
        "/",
        "/healthz",
        "/readyz",
        "/metrics",
        "/login",
        "/config.json",
        "/api/v1/openapi.json",
        "/api/v1/session",
    }
)
#: Methods a viewer may use (and that need no CSRF header).
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Header a cookie-authenticated mutation must carry.
CSRF_HEADER = "X-Facequeue-CSRF"

#: The caller's role, set by the middleware for handlers (audit "who").
ROLE = web.RequestKey("role", Role)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in PUBLIC_PATHS or not request.path.startswith("/api/"):
        return await handler(request)
    settings = request.app[SETTINGS]
    if not configured(settings):
        return error_response(401, "unauthorized", "no API token is configured: set FQ_ADMIN_TOKEN")
    presented = "Authorization" in request.headers or SESSION_COOKIE in request.cookies
    # Checked before the credential, so a guess past the limit learns nothing, right or wrong.
    if presented and (refused := await ratelimit.refusal(request)):
        return refused
    role, via = credential_of(settings, request.headers, request.cookies)
    if role is None:
        if presented:
            await ratelimit.record_failure(request)
        return error_response(
            401,
            "unauthorized",
            "a valid bearer token or session is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if request.method not in READ_METHODS:
        if role is Role.VIEWER:
            return error_response(403, "forbidden", "the viewer role may only read")
        if via == "cookie" and request.headers.get(CSRF_HEADER) != "1":
            return error_response(
                403, "csrf", f"cookie-authenticated changes need the {CSRF_HEADER}: 1 header"
            )
    request[ROLE] = role
    return await handler(request)


def _with_session(response: web.StreamResponse, request: web.Request, role: Role) -> web.StreamResponse:
    response.set_cookie(
        SESSION_COOKIE,
        issue_session(request.app[SETTINGS], role),
        max_age=SESSION_TTL_S,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )
    return response


async def login(request: web.Request) -> web.StreamResponse:
    """Exchange a token for a session cookie; 401 for a wrong token."""
    body = await validation.body(request, Login)
    if refused := await ratelimit.refusal(request):
        return refused
    role = role_for_token(request.app[SETTINGS], body.token)
    if role is None:
        await ratelimit.record_failure(request)
        return error_response(401, "unauthorized", "unknown token")
    return _with_session(web.json_response(SessionOut(role=role.value).model_dump()), request, role)


async def whoami(request: web.Request) -> web.StreamResponse:
    """The role the caller's session or token grants (null: not logged in), so a page can
    tell without reading its HttpOnly cookie. A wrong credential counts toward the rate
    limit (else this would be a way to guess tokens), and a dead session cookie is cleared."""
    presented = "Authorization" in request.headers or SESSION_COOKIE in request.cookies
    if presented and (refused := await ratelimit.refusal(request)):
        return refused
    role, via = credential_of(request.app[SETTINGS], request.headers, request.cookies)
    response = web.json_response(SessionOut(role=role.value if role else None).model_dump())
    if role is None and presented:
        await ratelimit.record_failure(request)
        if via == "cookie":
            response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    response = web.json_response({"role": None})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def login_link(request: web.Request) -> web.StreamResponse:
    """``/login?token=…``, the link ``make run`` prints: sets the session, then leaves the token's URL."""
    if refused := await ratelimit.refusal(request):
        return refused
    role = role_for_token(request.app[SETTINGS], request.query.get("token", ""))
    if role is None:
        await ratelimit.record_failure(request)
        return error_response(401, "unauthorized", "unknown token")
    return _with_session(web.Response(status=303, headers={"Location": "/"}), request, role)


ROUTES = [
    Route(
        "POST",
        "/api/v1/session",
        login,
        "Log in with a token: sets the session cookie",
        body=Login,
        response=SessionOut,
        errors=(400, 401, 415, 422, 429),
        public=True,
    ),
    Route(
        "DELETE",
        "/api/v1/session",
        logout,
        "Log out: clears the session cookie",
        response=SessionOut,
        public=True,
    ),
    Route(
        "GET",
        "/api/v1/session",
        whoami,
        "The caller's role (null when not logged in)",
        response=SessionOut,
        errors=(429,),
        public=True,
    ),
]
