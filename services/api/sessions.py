"""``/api/v1/session`` and ``/api/v1/sessions``: log in (by POST only), see and end one's own
session, and let an admin end them all.

Logging in takes a token or a one-time code (the link ``facequeue up`` prints: the page
reads the code from its URL fragment, which never reaches a server or a log, and posts
it here). Tokens never travel in URLs: the old ``/login?token=`` link is gone.
"""

from __future__ import annotations

from aiohttp import web

from services.api import validation
from services.api.auth import acting, from_proxy, refuse, too_many
from services.api.errors import ApiError
from services.api.models import Login, LoginCode, SessionOut, SessionsEnded
from services.api.models_identity import EndSessionsQuery, SessionInfo, SessionList
from services.api.openapi import Route
from services.api.state import SESSIONS
from shared.auth import Identity, Permission
from shared.http import SETTINGS, error_response, origin
from shared.sessions import SESSION_COOKIE, Caller, Session


def _session_out(identity: Identity | None, request: web.Request, **fields: object) -> SessionOut:
    who: dict[str, object] = {"role": None}
    if identity is not None:
        queues = sorted(identity.queues) if identity.queues is not None else None
        who = {"role": identity.role.value, "name": identity.name, "queues": queues, "kind": identity.kind}
    return SessionOut.model_validate({**who, "client_address": origin(request).address, **fields})


def set_session_cookie(request: web.Request, response: web.StreamResponse, cookie: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=request.app[SETTINGS].session_ttl_s,
        path="/",
        httponly=True,
        # Lax, not Strict, only where a sign-on's redirect back from the issuer must carry it.
        samesite="Strict",
        # Secure whenever the browser reached us over TLS, directly or through a trusted proxy.
        secure=origin(request).tls,
    )


def _with_cookie(request: web.Request, session: Session, cookie: str) -> web.StreamResponse:
    out = _session_out(
        session.identity,
        request,
        via="cookie",
        created_ms=session.created_ms,
        expires_ms=session.expires_ms,
    )
    response = web.json_response(out.model_dump())
    set_session_cookie(request, response, cookie)
    return response


async def login(request: web.Request) -> web.StreamResponse:
    """Exchange a token for a session; 401 for a wrong token (429 past the failure limit)."""
    body = await validation.body(request, Login)
    opened = await request.app[SESSIONS].open_with_token(body.token, origin(request).address)
    if opened is None:
        return await refuse(request, Caller(None, "bearer", body.token.strip()), "unknown token")
    return _with_cookie(request, *opened)


async def login_with_code(request: web.Request) -> web.StreamResponse:
    """Exchange a one-time login code for a session; the code is used up either way."""
    body = await validation.body(request, LoginCode)
    opened = await request.app[SESSIONS].open_with_code(body.code, origin(request).address)
    if opened is None:
        return await refuse(request, Caller(None, "code"), "unknown, used or expired login code")
    return _with_cookie(request, *opened)


async def whoami(request: web.Request) -> web.StreamResponse:
    """The caller's role and session (role null: not logged in), so a page can tell without
    reading its HttpOnly cookie. A wrong credential counts toward the failure limit (else this
    would be a way to test tokens), and a dead session cookie is cleared."""
    caller = await request.app[SESSIONS].identify(
        request.headers, request.cookies, from_proxy=from_proxy(request)
    )
    if caller.identity is None:
        if refused := await too_many(request, caller):
            return refused
        response = web.json_response(_session_out(None, request).model_dump())
        if caller.via == "cookie":
            response.del_cookie(SESSION_COOKIE, path="/")
        return response
    session = caller.session
    out = _session_out(
        caller.identity,
        request,
        via=caller.via,
        created_ms=session.created_ms if session else None,
        expires_ms=session.expires_ms if session else None,
    )
    return web.json_response(out.model_dump())


async def logout(request: web.Request) -> web.StreamResponse:
    """End the caller's session: its record is deleted, so every copy of the cookie is dead, and
    the gateways close the streams it holds at once."""
    caller = await request.app[SESSIONS].identify(request.headers, request.cookies)
    if caller.session is not None:
        await request.app[SESSIONS].end(caller.session, origin(request).address)
    response = web.json_response(_session_out(None, request).model_dump())
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def end_all(request: web.Request) -> web.StreamResponse:
    """End every dashboard session, the caller's too, or (``?person=``) one person's or key's
    (admin; audited with who and the client address)."""
    params = validation.query(request, EndSessionsQuery)
    store = request.app[SESSIONS]
    if params.person is not None:
        ended = await store.end_of(acting(request), person=params.person)
        return web.json_response(SessionsEnded(ended=ended).model_dump())
    ended = await store.end_all(acting(request))
    response = web.json_response(SessionsEnded(ended=ended).model_dump())
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def list_sessions(request: web.Request) -> web.StreamResponse:
    """Every live dashboard session: whose, what role, from where (admin)."""
    sessions = [
        SessionInfo(
            id=s.id,
            name=s.name,
            role=s.role.value,
            kind=s.kind,
            queues=sorted(s.queues) if s.queues is not None else None,
            created_ms=s.created_ms,
            expires_ms=s.expires_ms,
            address=s.address,
        )
        for s in await request.app[SESSIONS].listed()
    ]
    return web.json_response(SessionList(sessions=sessions).model_dump())


async def end_one(request: web.Request) -> web.StreamResponse:
    """End one session by its id (admin; audited); 404 when it is not live."""
    session_id = request.match_info["session_id"]
    if len(session_id) > 64 or not session_id.isascii():
        raise ApiError(404, "session_not_found", "no live session with this id")
    ended = await request.app[SESSIONS].end_of(acting(request), session_id=session_id)
    if not ended:
        raise ApiError(404, "session_not_found", "no live session with this id")
    return web.json_response(SessionsEnded(ended=ended).model_dump())


async def gone(request: web.Request) -> web.StreamResponse:
    """``GET /login``: tokens in URLs leak into histories and logs, so this link no longer works."""
    return error_response(
        410, "gone", "log in with POST /api/v1/session, or use a one-time link from facequeue login-link"
    )


ROUTES = [
    Route(
        "POST",
        "/api/v1/session",
        login,
        "Log in with a token: opens a session and sets its cookie",
        body=Login,
        response=SessionOut,
        errors=(400, 401, 413, 415, 422, 429),
        public=True,
    ),
    Route(
        "POST",
        "/api/v1/session/code",
        login_with_code,
        "Log in with a one-time code from a login link: opens a session and sets its cookie",
        body=LoginCode,
        response=SessionOut,
        errors=(400, 401, 413, 415, 422, 429),
        public=True,
    ),
    Route(
        "DELETE",
        "/api/v1/session",
        logout,
        "Log out: ends the session and clears its cookie",
        response=SessionOut,
        public=True,
    ),
    Route(
        "GET",
        "/api/v1/session",
        whoami,
        "The caller's role and session (role null when not logged in)",
        response=SessionOut,
        errors=(429,),
        public=True,
    ),
    Route(
        "DELETE",
        "/api/v1/sessions",
        end_all,
        "End every dashboard session, or one person's (admin; audited)",
        query=EndSessionsQuery,
        response=SessionsEnded,
        errors=(400, 403),
    ),
    Route(
        "GET",
        "/api/v1/sessions",
        list_sessions,
        "Every live dashboard session: whose, role, address (admin)",
        response=SessionList,
        errors=(403,),
        permission=Permission.ADMIN,
    ),
    Route(
        "DELETE",
        "/api/v1/sessions/{session_id}",
        end_one,
        "End one dashboard session (admin; audited)",
        response=SessionsEnded,
        errors=(403, 404),
    ),
]
