"""``/api/v1/sso/login`` and ``/api/v1/sso/callback``: OpenID Connect sign-on (issue 22).

Authorization code flow with PKCE (S256) and a nonce, through authlib: the login
redirects to the issuer with a fresh ``state``, kept in Redis (with the PKCE verifier,
the nonce and where to return) and in a short-lived cookie of this browser, so a
callback is accepted once, only in the browser that started it (no login CSRF). The
callback exchanges the code, validates the ID token (signature by the issuer's JWKS,
issuer, audience, expiry, nonce), maps the email and groups to a role and queue scope
(shared/sso.py) and opens a session like a token login does. Logout is the session's.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx2
import redis
from aiohttp import web
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from pydantic import ValidationError

from services.api import validation
from services.api.errors import ApiError
from services.api.models_identity import SsoCallbackQuery, SsoLoginQuery
from services.api.openapi import Route
from services.api.sessions import set_session_cookie
from services.api.state import SESSIONS
from shared import keys
from shared.config import Settings
from shared.errors import RedisUnavailable
from shared.http import SETTINGS, origin
from shared.logging import get_logger
from shared.sso import map_person, split_groups

log = get_logger(__name__)

#: Cookie binding a sign-on in progress to the browser that started it (SameSite=Lax: it must
#: come back on the issuer's top-level redirect).
STATE_COOKIE = "fq_sso_state"
#: Seconds the issuer's discovery document and keys are reused before being read again.
METADATA_TTL_S = 3600.0
#: Seconds an ID token's times may be off (clocks differ).
LEEWAY_S = 60
#: Seconds a call to the issuer may take.
ISSUER_TIMEOUT_S = 10.0


@dataclass
class Issuer:
    """The issuer's discovery document and keys, read lazily and cached."""

    settings: Settings
    metadata: dict[str, Any] = field(default_factory=dict)
    jwks: dict[str, Any] = field(default_factory=dict)
    read_at: float = 0.0

    def client(self, redirect_uri: str) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.settings.oidc_client_id,
            client_secret=self.settings.oidc_client_secret or None,
            scope=self.settings.oidc_scopes,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic" if self.settings.oidc_client_secret else "none",
            timeout=ISSUER_TIMEOUT_S,
        )

    async def load(self, *, force: bool = False) -> dict[str, Any]:
        if self.metadata and not force and time.monotonic() - self.read_at < METADATA_TTL_S:
            return self.metadata
        url = self.settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            async with httpx2.AsyncClient(timeout=ISSUER_TIMEOUT_S) as http:
                metadata = (await http.get(url)).raise_for_status().json()
                jwks = (await http.get(metadata["jwks_uri"])).raise_for_status().json()
        except Exception as exc:  # any transport or format failure: the issuer is unusable now
            log.warning("OIDC issuer unreachable", issuer=self.settings.oidc_issuer, error=str(exc))
            raise ApiError(502, "sso_unavailable", "the sign-on provider cannot be reached") from exc
        self.metadata, self.jwks, self.read_at = dict(metadata), dict(jwks), time.monotonic()
        return self.metadata


ISSUER = web.AppKey("oidc_issuer", Issuer)


def _issuer(request: web.Request) -> Issuer:
    settings = request.app[SETTINGS]
    if not settings.oidc_issuer:
        raise ApiError(404, "sso_disabled", "single sign-on is not configured (FQ_OIDC_ISSUER)")
    if ISSUER not in request.app:
        raise ApiError(404, "sso_disabled", "single sign-on is not configured (FQ_OIDC_ISSUER)")
    return request.app[ISSUER]


def redirect_uri(request: web.Request) -> str:
    """Where the issuer sends the browser back: configured, or this API as the browser reached it."""
    settings = request.app[SETTINGS]
    if settings.oidc_redirect_url:
        return settings.oidc_redirect_url
    scheme = "https" if origin(request).tls else "http"
    return f"{scheme}://{request.host}/api/v1/sso/callback"


async def login(request: web.Request) -> web.StreamResponse:
    """302 to the issuer's authorization endpoint (code flow, PKCE S256, nonce)."""
    issuer = _issuer(request)
    params = validation.query(request, SsoLoginQuery)
    metadata = await issuer.load()
    state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), generate_token(64)
    back = redirect_uri(request)
    pending = {"verifier": verifier, "nonce": nonce, "next": params.next or "/", "redirect_uri": back}
    ttl_s = request.app[SETTINGS].oidc_state_ttl_s
    try:
        await request.app[SESSIONS].client.set(keys.oidc_state_key(state), json.dumps(pending), ex=ttl_s)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise RedisUnavailable(str(exc)) from exc
    async with issuer.client(back) as client:
        url, _ = client.create_authorization_url(
            metadata["authorization_endpoint"], state=state, code_verifier=verifier, nonce=nonce
        )
    response = web.Response(status=302, headers={"Location": url, "Cache-Control": "no-store"})
    response.set_cookie(
        STATE_COOKIE,
        state,
        max_age=ttl_s,
        path="/api/v1/sso",
        httponly=True,
        samesite="Lax",
        secure=origin(request).tls,
    )
    return response


async def _take_state(request: web.Request, state: str) -> dict[str, str]:
    """The sign-on this browser started under ``state``, used up; 400 otherwise."""
    cookie = request.cookies.get(STATE_COOKIE, "")
    if not state or not secrets.compare_digest(cookie.encode(), state.encode()):
        raise ApiError(400, "sso_state", "this sign-on was not started in this browser; start again")
    try:
        raw = await request.app[SESSIONS].client.getdel(keys.oidc_state_key(state))
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise RedisUnavailable(str(exc)) from exc
    if not isinstance(raw, str):
        raise ApiError(400, "sso_state", "this sign-on expired or was already used; start again")
    pending: dict[str, str] = json.loads(raw)
    return pending


async def _claims(request: web.Request, issuer: Issuer, code: str, pending: dict[str, str]) -> dict[str, Any]:
    """Exchange the code and validate the ID token; its claims."""
    settings = request.app[SETTINGS]
    metadata = await issuer.load()
    async with issuer.client(pending["redirect_uri"]) as client:
        try:
            token = await client.fetch_token(
                metadata["token_endpoint"], code=code, code_verifier=pending["verifier"]
            )
        except Exception as exc:  # the issuer refused the code, or could not be reached
            log.warning("OIDC code exchange failed", error=str(exc))
            raise ApiError(401, "sso_failed", "the sign-on provider refused the login") from exc
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise ApiError(401, "sso_failed", "the sign-on provider sent no ID token")
    registry = jwt.JWTClaimsRegistry(
        leeway=LEEWAY_S,
        iss={"essential": True, "value": metadata.get("issuer", settings.oidc_issuer)},
        aud={"essential": True, "value": settings.oidc_client_id},
        nonce={"essential": True, "value": pending["nonce"]},
        exp={"essential": True},
        sub={"essential": True},
    )
    try:
        decoded = jwt.decode(id_token, KeySet.import_key_set(issuer.jwks))  # type: ignore[arg-type]
        registry.validate(decoded.claims)
    except (JoseError, ValueError) as exc:
        log.warning("OIDC ID token refused", error=str(exc))
        raise ApiError(401, "sso_failed", "the ID token did not validate") from exc
    return dict(decoded.claims)


async def callback(request: web.Request) -> web.StreamResponse:
    """The issuer's redirect back: a session for the person, then 302 to where they were going."""
    issuer = _issuer(request)
    try:
        query = SsoCallbackQuery.model_validate(dict(request.query))
    except ValidationError as exc:
        raise ApiError(400, "bad_request", "malformed sign-on callback") from exc
    pending = await _take_state(request, query.state or "")
    if query.error or not query.code:
        raise ApiError(401, "sso_denied", f"the sign-on provider said: {query.error or 'no code'}")
    claims = await _claims(request, issuer, query.code, pending)
    settings = request.app[SETTINGS]
    email = str(claims.get("email") or "")
    identity = map_person(settings, email, split_groups(claims.get(settings.sso_groups_claim)), "oidc")
    if identity is None:
        log.info("SSO person refused", email=email[:254])
        raise ApiError(403, "sso_forbidden", f"{email or 'this account'} may not use facequeue")
    session, cookie = await request.app[SESSIONS].open(identity, "", origin(request).address)
    log.info("SSO login", name=session.name, role=session.role.value)
    response = web.Response(
        status=302, headers={"Location": pending.get("next") or "/", "Cache-Control": "no-store"}
    )
    set_session_cookie(request, response, cookie)
    response.del_cookie(STATE_COOKIE, path="/api/v1/sso")
    return response


def add(app: web.Application, settings: Settings) -> None:
    """Serve the sign-on routes (they answer 404 while no issuer is configured)."""
    if settings.oidc_issuer:
        app[ISSUER] = Issuer(settings)


ROUTES = [
    Route(
        "GET",
        "/api/v1/sso/login",
        login,
        "Start an OpenID Connect sign-on: 302 to the issuer (code flow with PKCE)",
        query=SsoLoginQuery,
        status=302,
        errors=(400, 404, 502),
        public=True,
    ),
    Route(
        "GET",
        "/api/v1/sso/callback",
        callback,
        "The issuer's redirect back: opens a session, 302 to the dashboard",
        query=SsoCallbackQuery,
        status=302,
        errors=(400, 401, 403, 404, 502),
        public=True,
    ),
]
