"""Who is calling: bearer tokens and the dashboard's signed session cookie.

Shared by the API (which issues the cookie) and the stream gateway (which
accepts it, since a browser's EventSource cannot send an Authorization header).
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import json
import time
from collections.abc import Mapping

from shared.config import Settings

#: Name of the session cookie (HttpOnly, SameSite=Strict, signed with FQ_SECRET).
SESSION_COOKIE = "fq_session"
#: Seconds a session lasts.
SESSION_TTL_S = 12 * 3600


class Role(enum.StrEnum):
    """What a caller may do."""

    #: Every call.
    ADMIN = "admin"
    #: Reads only.
    VIEWER = "viewer"


def configured(settings: Settings) -> bool:
    """Whether any token exists; with none, nothing is served (never open by accident)."""
    return bool(settings.admin_token or settings.viewer_token)


def role_for_token(settings: Settings, token: str) -> Role | None:
    # Compared as bytes: compare_digest refuses non-ASCII str, and a token is any text a caller sends.
    given = token.strip().encode()
    if settings.admin_token and hmac.compare_digest(given, settings.admin_token.encode()):
        return Role.ADMIN
    if settings.viewer_token and hmac.compare_digest(given, settings.viewer_token.encode()):
        return Role.VIEWER
    return None


def _sign(settings: Settings, payload: bytes) -> str:
    digest = hmac.new(settings.secret.encode(), payload, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def issue_session(settings: Settings, role: Role, now: float | None = None) -> str:
    """A cookie value naming the role and its expiry, signed."""
    body = json.dumps({"role": role.value, "exp": int((now or time.time()) + SESSION_TTL_S)}).encode()
    payload = base64.urlsafe_b64encode(body).decode().rstrip("=")
    return f"{payload}.{_sign(settings, payload.encode())}"


def role_for_session(settings: Settings, cookie: str, now: float | None = None) -> Role | None:
    payload, _, signature = cookie.partition(".")
    if not payload or not hmac.compare_digest(signature.encode(), _sign(settings, payload.encode()).encode()):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        role = Role(data["role"])
        expired = float(data["exp"]) < (now or time.time())
    except (ValueError, KeyError, TypeError):
        return None
    return None if expired else role


def credential_of(
    settings: Settings, headers: Mapping[str, str], cookies: Mapping[str, str]
) -> tuple[Role | None, str]:
    """The role a request's bearer token or session cookie grants, and which of the two it used."""
    scheme, _, token = headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token:
        return role_for_token(settings, token), "bearer"
    cookie = cookies.get(SESSION_COOKIE)
    return (role_for_session(settings, cookie) if cookie else None), "cookie"


def role_of(settings: Settings, headers: Mapping[str, str], cookies: Mapping[str, str]) -> Role | None:
    """The role a request's bearer token or session cookie grants, if any."""
    return credential_of(settings, headers, cookies)[0]
