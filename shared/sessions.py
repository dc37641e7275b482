"""Dashboard sessions: records in Redis behind a signed cookie, and one-time login codes.

A browser's EventSource cannot send an Authorization header, so the dashboard logs in
once (a token, or a one-time code from ``facequeue up``) and carries a cookie naming
its session. The cookie is only a pointer: the record in Redis decides. Logout deletes
the record (and tells the gateways, which close its open streams); a record is bound to the
fingerprint of the token that opened it, so a new token ends old sessions; "end all sessions"
bumps an epoch older records no longer match; and the cookie's issue time is checked against
``FQ_SESSION_TTL_S`` as it is now.
Used by the API (which opens sessions) and the stream gateway (which checks them).

Since issue 22 a session belongs to someone: a bootstrap token (named by its variable),
a named API key (it dies with the key), or a person signed on through OIDC; the record
keeps the name, role and queue scope, so the audit and the gateway's filters know them.
A trusted auth proxy's ``X-Forwarded-Email`` needs no session: each request carries it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio

from shared import keys
from shared.apikeys import KeyStore
from shared.auth import (
    ADMIN_TOKEN_NAME,
    VIEWER_TOKEN_NAME,
    Identity,
    Role,
    current_fingerprint,
    fingerprint,
    identity_for_token,
    sign,
)
from shared.config import Settings
from shared.errors import RedisUnavailable
from shared.logging import get_logger
from shared.registry import AsyncRegistry, Registry
from shared.scripts import Call, Lua
from shared.sso import map_person, split_groups

log = get_logger(__name__)

#: Name of the session cookie (HttpOnly, SameSite=Strict; Secure over TLS).
SESSION_COOKIE = "fq_session"
#: Bytes of randomness in a session id or a login code (256 bits: never guessed).
ID_BYTES = 32
#: Seconds a cookie may claim to be issued ahead of this host's clock (replicas' clocks differ).
CLOCK_SKEW_S = 60
#: Longest cookie value looked at; anything longer is not one of ours.
MAX_COOKIE_CHARS = 200
#: Header a trusted auth proxy names the signed-on person in (oauth2-proxy's).
PROXY_EMAIL_HEADER = "X-Forwarded-Email"
#: Header a trusted auth proxy lists the person's groups in (comma-separated).
PROXY_GROUPS_HEADER = "X-Forwarded-Groups"
#: Most sessions listed or searched for one person.
MAX_SESSIONS_LISTED = 1000


@dataclass(frozen=True, slots=True)
class Session:
    """One live dashboard session."""

    id: str
    role: Role
    created_ms: int
    expires_ms: int
    #: Client address that opened it.
    address: str
    #: Whose it is: a person's email, a key's name, or a bootstrap token's variable.
    name: str = ""
    #: Queues in scope; None: every queue.
    queues: frozenset[str] | None = None
    #: ``token``, ``key`` or ``oidc``: what opened it.
    kind: str = "token"
    #: The key that opened it (``key`` sessions end with their key).
    key_id: str = ""

    @property
    def identity(self) -> Identity:
        return Identity(self.name, self.role, self.queues, self.kind, self.key_id)


@dataclass(frozen=True, slots=True)
class Caller:
    """What a request presented and what it proved."""

    #: Who it is; None when nothing valid was presented.
    identity: Identity | None
    #: ``bearer``, ``cookie``, ``proxy``, ``other`` (an Authorization header of another scheme)
    #: or ``none``.
    via: str
    #: The bearer token presented ("" otherwise): its prefix keys the failure limiter.
    token: str = ""
    #: The session, when a valid cookie was presented.
    session: Session | None = None

    @property
    def role(self) -> Role | None:
        """The role granted; None when nothing valid was presented."""
        return self.identity.role if self.identity is not None else None

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
        self.keys = KeyStore(registry)

    async def open(self, identity: Identity, token_fp: str, address: str) -> tuple[Session, str]:
        """A new session for ``identity`` (bound to ``token_fp`` when a bootstrap token opened it);
        returns it and its cookie value."""
        session_id = secrets.token_urlsafe(ID_BYTES)
        ttl_s = self.settings.session_ttl_s
        scope = json.dumps(sorted(identity.queues)) if identity.queues is not None else ""
        call = Call(
            Lua.SESSION_CREATE,
            [keys.session_key(session_id), keys.SESSIONS, keys.SESSIONS_EPOCH],
            [
                session_id,
                identity.role.value,
                token_fp,
                ttl_s,
                address,
                identity.name,
                identity.kind,
                scope,
                identity.key_id,
            ],
            _created,
        )
        created_ms, expires_ms = await self.registry.run(call)
        issued = f"{session_id}.{created_ms // 1000}"
        cookie = f"{issued}.{sign(self.settings, issued)}"
        session = Session(
            session_id,
            identity.role,
            created_ms,
            expires_ms,
            address,
            identity.name,
            identity.queues,
            identity.kind,
            identity.key_id,
        )
        return session, cookie

    async def open_with_token(self, token: str, address: str) -> tuple[Session, str] | None:
        """Log in with a bootstrap token or a named key; None when it grants nothing."""
        identity = identity_for_token(self.settings, token)
        if identity is not None:
            return await self.open(identity, fingerprint(self.settings, token), address)
        key = await self.keys.verify(token)
        if key is None:
            return None
        return await self.open(key.identity(), "", address)

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
        name = ADMIN_TOKEN_NAME if role is Role.ADMIN else VIEWER_TOKEN_NAME
        return await self.open(Identity(name, role), current, address)

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
        session = _valid(self.settings, session_id, record, epoch or "0", now)
        if session is not None and session.kind == "key" and not await self.keys.still_live([session.key_id]):
            return None  # its key was revoked or expired
        return session

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
        valid = {
            session.id: session
            for session, record in zip(sessions, records, strict=True)
            if session.created_ms + ttl_ms > now * 1000
            and _valid(self.settings, session.id, record, epoch or "0", now) is not None
        }
        key_ids = sorted({s.key_id for s in valid.values() if s.kind == "key"})
        live_keys = await self.keys.still_live(key_ids)
        return {sid for sid, s in valid.items() if s.kind != "key" or s.key_id in live_keys}

    async def end(self, session: Session, address: str = "") -> bool:
        """Logout: the record goes, so the cookie is worthless wherever it was copied, and the
        ``admin`` event ``end_sessions`` makes the gateways close its open streams at once
        (session_end.lua). ``address``: where the logout came from (default: where the session
        was opened). Returns whether the session was live."""
        who = session.identity.who(address or session.address)
        call = Call(
            Lua.SESSION_END,
            [keys.session_key(session.id), keys.SESSIONS],
            [session.id, who],
            int,
        )
        return await self.registry.run(call) == 1

    async def end_all(self, who: str) -> int:
        """End every session (audited; ``who`` is ``name|role|address``); returns how many were live."""
        call = Call(Lua.SESSIONS_END, [keys.SESSIONS, keys.SESSIONS_EPOCH, keys.AUDIT_STREAM], [who], int)
        return await self.registry.run(call)

    async def listed(self, now: float | None = None) -> list[Session]:
        """The live sessions, soonest to expire first (at most MAX_SESSIONS_LISTED)."""
        now = time.time() if now is None else now
        with _redis_boundary():
            ids: list[str] = await self.client.zrangebyscore(  # type: ignore[assignment]
                keys.SESSIONS, int(now * 1000), "+inf", start=0, num=MAX_SESSIONS_LISTED
            )
            async with self.client.pipeline(transaction=False) as pipe:
                for session_id in ids:
                    pipe.hgetall(keys.session_key(session_id))
                pipe.get(keys.SESSIONS_EPOCH)
                *records, epoch = await pipe.execute()
        found = (_valid(self.settings, i, r, epoch or "0", now) for i, r in zip(ids, records, strict=True))
        return [session for session in found if session is not None]

    async def end_of(self, who: str, person: str = "", session_id: str = "") -> int:
        """End one person's sessions (or the one session ``session_id``); audited."""
        sessions = [
            s for s in await self.listed() if (s.id == session_id if session_id else s.name == person)
        ]
        if session_id and not sessions:
            return 0
        target = sessions[0].name if session_id else person
        call = Call(
            Lua.SESSIONS_END_PERSON,
            [keys.SESSIONS, keys.AUDIT_STREAM, *(keys.session_key(s.id) for s in sessions)],
            [who, target, *(s.id for s in sessions)],
            int,
        )
        return await self.registry.run(call)

    async def identify(
        self, headers: Mapping[str, str], cookies: Mapping[str, str], *, from_proxy: bool = False
    ) -> Caller:
        """Who a request is: a trusted auth proxy's person, else a bearer token (bootstrap or a
        named key), else the session cookie. ``from_proxy``: the peer is a trusted proxy."""
        if self.settings.auth_proxy and PROXY_EMAIL_HEADER in headers:
            if from_proxy:
                email = headers[PROXY_EMAIL_HEADER]
                groups = split_groups(headers.get(PROXY_GROUPS_HEADER, ""))
                return Caller(map_person(self.settings, email, groups, "proxy"), "proxy")
            log.warning("auth proxy headers from an untrusted peer ignored", header=PROXY_EMAIL_HEADER)
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            identity = identity_for_token(self.settings, token)
            if identity is None:
                key = await self.keys.verify(token)
                identity = key.identity() if key is not None else None
            return Caller(identity, "bearer", token.strip())
        cookie = cookies.get(SESSION_COOKIE)
        if cookie:
            session = await self.lookup(cookie)
            return Caller(session.identity if session else None, "cookie", session=session)
        return Caller(None, "other" if "Authorization" in headers else "none")


def _valid(
    settings: Settings, session_id: str, record: Mapping[str, str], epoch: str, now: float
) -> Session | None:
    try:
        role = Role(record.get("role", ""))
        created_ms, expires_ms = int(record["created_ms"]), int(record["expires_ms"])
        raw_queues = record.get("queues", "")
        queues = frozenset(json.loads(raw_queues)) if raw_queues else None
    except (ValueError, KeyError, TypeError):
        return None
    kind = record.get("kind", "token")
    if record.get("epoch") != epoch or expires_ms <= now * 1000:
        return None
    if kind == "token":
        # Bound to the bootstrap token that opened it: a new token ends it.
        current = current_fingerprint(settings, role)
        if current is None or not hmac.compare_digest(current, record.get("fp", "")):
            return None
    elif kind not in ("key", "oidc"):
        return None
    default_name = ADMIN_TOKEN_NAME if role is Role.ADMIN else VIEWER_TOKEN_NAME
    return Session(
        session_id,
        role,
        created_ms,
        expires_ms,
        record.get("address", ""),
        record.get("name") or default_name,
        queues,
        kind,
        record.get("key_id", ""),
    )
