"""Dashboard sessions: records in Redis behind a signed cookie, and one-time login codes.

A browser's EventSource cannot send an Authorization header, so the dashboard logs in
once (a token, or a one-time code from ``facequeue up``) and carries a cookie naming
its session. The cookie is only a pointer: the record in Redis decides. Logout deletes
the record; a record is bound to the fingerprint of the token that opened it, so a new
token ends old sessions; "end all sessions" bumps an epoch older records no longer
match; and the cookie's issue time is checked against ``FQ_SESSION_TTL_S`` as it is now.
Used by the API (which opens sessions) and the stream gateway (which checks them).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import time
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio

from shared import keys
from shared.auth import Role, current_fingerprint, fingerprint, role_for_token, sign
from shared.config import Settings
from shared.errors import RedisUnavailable
from shared.registry import AsyncRegistry, Registry
from shared.scripts import Call, Lua

#: Name of the session cookie (HttpOnly, SameSite=Strict; Secure over TLS).
SESSION_COOKIE = "fq_session"
#: Bytes of randomness in a session id or a login code (256 bits: never guessed).
ID_BYTES = 32
#: Seconds a cookie may claim to be issued ahead of this host's clock (replicas' clocks differ).
CLOCK_SKEW_S = 60
#: Longest cookie value looked at; anything longer is not one of ours.
MAX_COOKIE_CHARS = 200


@dataclass(frozen=True, slots=True)
class Session:
    """One live dashboard session."""

    id: str
    role: Role
    created_ms: int
    expires_ms: int
    #: Client address that opened it.
    address: str


@dataclass(frozen=True, slots=True)
class Caller:
    """What a request presented and what it proved."""

    #: The role granted; None when nothing valid was presented.
    role: Role | None
    #: ``bearer``, ``cookie``, ``other`` (an Authorization header of another scheme) or ``none``.
    via: str
    #: The bearer token presented ("" otherwise): its prefix keys the failure limiter.
    token: str = ""
    #: The session, when a valid cookie was presented.
    session: Session | None = None

    @property
    def presented(self) -> bool:
        """Whether any credential came with the request (a wrong one counts as a failure)."""
        return self.via != "none"


def _code_key(code: str) -> str:
    return keys.login_code_key(hashlib.sha256(code.encode()).hexdigest())


def issue_login_code(client: redis.Redis, settings: Settings, role: Role = Role.ADMIN) -> str:
    """A one-time login code for ``role`` (``facequeue up`` and ``facequeue login-link``).

    Stored by digest with the fingerprint of the role's token now, so it is refused once
    used, once ``FQ_LOGIN_CODE_TTL_S`` has passed, or once the token has changed.
    """
    token_fp = current_fingerprint(settings, role)
    if token_fp is None:
        raise ValueError(f"no {role.value} token is configured")
    code = secrets.token_urlsafe(ID_BYTES)
    client.set(_code_key(code), f"{role.value}:{token_fp}", ex=settings.login_code_ttl_s, nx=True)
    return code


def login_link(settings: Settings, base_url: str) -> str:
    """A one-time admin login link: the code rides in the fragment, which browsers never send
    (no server log, proxy or Referer sees it); the page posts it to /api/v1/session/code."""
    registry = Registry(settings)
    try:
        code = issue_login_code(registry.client, settings, Role.ADMIN)
    finally:
        registry.close()
    return f"{base_url.rstrip('/')}/#code={code}"


@contextlib.contextmanager
def _redis_boundary() -> Iterator[None]:
    """redis-py's connection errors as facequeue's (503 in the API, not a 500)."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise RedisUnavailable(str(exc)) from exc


def _created(raw: Any) -> tuple[int, int]:
    created, expires = raw
    return int(created), int(expires)


class SessionStore:
    """Opens, checks and ends sessions through one process's registry (its Redis client)."""

    def __init__(self, registry: AsyncRegistry) -> None:
        self.registry = registry
        self.settings = registry.settings
        self.client = registry.client

    async def open(self, role: Role, token_fp: str, address: str) -> tuple[Session, str]:
        """A new session for ``role`` bound to ``token_fp``; returns it and its cookie value."""
        session_id = secrets.token_urlsafe(ID_BYTES)
        ttl_s = self.settings.session_ttl_s
        call = Call(
            Lua.SESSION_CREATE,
            [keys.session_key(session_id), keys.SESSIONS, keys.SESSIONS_EPOCH],
            [session_id, role.value, token_fp, ttl_s, address],
            _created,
        )
        created_ms, expires_ms = await self.registry.run(call)
        issued = f"{session_id}.{created_ms // 1000}"
        cookie = f"{issued}.{sign(self.settings, issued)}"
        return Session(session_id, role, created_ms, expires_ms, address), cookie

    async def open_with_token(self, token: str, address: str) -> tuple[Session, str] | None:
        """Log in with a token; None when it grants nothing."""
        role = role_for_token(self.settings, token)
        if role is None:
            return None
        return await self.open(role, fingerprint(self.settings, token), address)

    async def open_with_code(self, code: str, address: str) -> tuple[Session, str] | None:
        """Log in with a one-time code, which is used up whatever the outcome; None when it is
        unknown, expired, used, or its token has changed since it was issued."""
        if not code.isascii() or len(code) > MAX_COOKIE_CHARS:
            return None
        with _redis_boundary():
            stored = await self.client.getdel(_code_key(code))
        if not isinstance(stored, str):
            return None
        role_text, _, token_fp = stored.partition(":")
        try:
            role = Role(role_text)
        except ValueError:
            return None
        current = current_fingerprint(self.settings, role)
        if current is None or not hmac.compare_digest(current, token_fp):
            return None
        return await self.open(role, current, address)

    async def lookup(self, cookie: str, now: float | None = None) -> Session | None:
        """The live session a cookie names, or None (forged, too old, ended, or its token rotated)."""
        if len(cookie) > MAX_COOKIE_CHARS or not cookie.isascii():
            return None
        parts = cookie.split(".")
        if len(parts) != 3:
            return None
        session_id, issued_s, signature = parts
        if not hmac.compare_digest(signature, sign(self.settings, f"{session_id}.{issued_s}")):
            return None
        if not issued_s.isdigit() or len(issued_s) > 12:
            return None
        now = time.time() if now is None else now
        issued = int(issued_s)
        # Against the TTL configured now, not the one the session was opened under (issue 16).
        if issued > now + CLOCK_SKEW_S or now - issued >= self.settings.session_ttl_s:
            return None
        with _redis_boundary():
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.hgetall(keys.session_key(session_id))
                pipe.get(keys.SESSIONS_EPOCH)
                record, epoch = await pipe.execute()
        return _valid(self.settings, session_id, record, epoch or "0", now)

    async def still_live(self, sessions: Collection[Session], now: float | None = None) -> set[str]:
        """Which of these sessions are still live, in one round trip (the gateway re-checks the
        sessions behind its open connections, so logout and rotation end those too)."""
        if not sessions:
            return set()
        now = time.time() if now is None else now
        with _redis_boundary():
            async with self.client.pipeline(transaction=False) as pipe:
                for session in sessions:
                    pipe.hgetall(keys.session_key(session.id))
                pipe.get(keys.SESSIONS_EPOCH)
                *records, epoch = await pipe.execute()
        ttl_ms = self.settings.session_ttl_s * 1000
        return {
            session.id
            for session, record in zip(sessions, records, strict=True)
            if session.created_ms + ttl_ms > now * 1000
            and _valid(self.settings, session.id, record, epoch or "0", now) is not None
        }

    async def end(self, session: Session) -> None:
        """Logout: the record goes, so the cookie is worthless wherever it was copied."""
        with _redis_boundary():
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.delete(keys.session_key(session.id))
                pipe.zrem(keys.SESSIONS, session.id)
                await pipe.execute()

    async def end_all(self, who: str, address: str) -> int:
        """End every session (audited); returns how many were live."""
        call = Call(
            Lua.SESSIONS_END, [keys.SESSIONS, keys.SESSIONS_EPOCH, keys.AUDIT_STREAM], [who, address], int
        )
        return await self.registry.run(call)

    async def identify(self, headers: Mapping[str, str], cookies: Mapping[str, str]) -> Caller:
        """Who a request is: a bearer token first, else the session cookie."""
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return Caller(role_for_token(self.settings, token), "bearer", token.strip())
        cookie = cookies.get(SESSION_COOKIE)
        if cookie:
            session = await self.lookup(cookie)
            return Caller(session.role if session else None, "cookie", session=session)
        return Caller(None, "other" if "Authorization" in headers else "none")


def _valid(
    settings: Settings, session_id: str, record: Mapping[str, str], epoch: str, now: float
) -> Session | None:
    try:
        role = Role(record.get("role", ""))
        created_ms, expires_ms = int(record["created_ms"]), int(record["expires_ms"])
    except (ValueError, KeyError):
        return None
    current = current_fingerprint(settings, role)
    if (
        record.get("epoch") != epoch
        or current is None
        or not hmac.compare_digest(current, record.get("fp", ""))
    ):
        return None
    if expires_ms <= now * 1000:
        return None
    return Session(session_id, role, created_ms, expires_ms, record.get("address", ""))
