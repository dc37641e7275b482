"""Named API keys: one per person or robot, each with a role, a queue scope and an expiry.

A key's secret is ``fq_<id>_<random>``: the id (16 hex digits) finds the record in
one lookup, and only an HMAC-SHA256 of the whole secret under ``FQ_SECRET`` is
stored, compared in constant time, so a copy of Redis opens nothing. Every request
reads the record, so a revoked or expired key is refused at once; the gateway also
closes the streams a key holds (services/stream/revocation.py). The last use is
recorded at most once per :data:`TOUCH_INTERVAL_MS`, so reads stay writes-free.
Used by the API (which creates and checks keys) and the gateway (which checks them).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import redis

from shared import keys
from shared.auth import Identity, Role
from shared.config import Settings
from shared.errors import RedisUnavailable
from shared.registry import AsyncRegistry
from shared.scripts import Call, Lua

#: Prefix of every key secret (so a leaked one is recognisable, e.g. by secret scanners).
SECRET_PREFIX = "fq_"
#: A key secret: the prefix, the record's id, then 43 characters of ``token_urlsafe(32)``.
SECRET_PATTERN = re.compile(r"fq_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
#: Least milliseconds between two recorded uses of a key.
TOUCH_INTERVAL_MS = 60_000
#: Most keys listed (the index is read newest first).
MAX_KEYS = 1000


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One key's record, without its hash."""

    id: str
    name: str
    role: Role
    #: Queues in scope; None: every queue.
    queues: frozenset[str] | None
    created_ms: int
    #: Who created it (name).
    created_by: str
    #: When it stops working (Unix ms); 0: never.
    expires_ms: int
    #: When it was revoked (Unix ms); 0: not revoked.
    revoked_ms: int
    revoked_by: str
    #: Last recorded use (Unix ms, to within a minute); 0: never used.
    last_used_ms: int

    def live(self, now_ms: int) -> bool:
        return self.revoked_ms == 0 and (self.expires_ms == 0 or self.expires_ms > now_ms)

    def identity(self) -> Identity:
        return Identity(self.name, self.role, self.queues, kind="key", key_id=self.id)


def digest(settings: Settings, secret: str) -> str:
    """The keyed hash stored for a secret."""
    return hmac.new(settings.secret.encode(), b"apikey:" + secret.encode(), hashlib.sha256).hexdigest()


def parse_record(record: Mapping[str, str]) -> ApiKey | None:
    """A key from its hash (None when it is not one)."""
    try:
        raw_queues = record.get("queues", "")
        queues = frozenset(json.loads(raw_queues)) if raw_queues else None
        created_by = record.get("created_by", "")
        return ApiKey(
            id=record["id"],
            name=record["name"],
            role=Role(record["role"]),
            queues=queues,
            created_ms=int(record["created_ms"]),
            created_by=created_by,
            expires_ms=int(record.get("expires_ms", "0")),
            revoked_ms=int(record.get("revoked_ms", "0")),
            revoked_by=record.get("revoked_by", ""),
            last_used_ms=int(record.get("last_used_ms", "0")),
        )
    except (KeyError, ValueError, TypeError):
        return None


class KeyStore:
    """Creates, lists, revokes and verifies keys through one process's registry."""

    def __init__(self, registry: AsyncRegistry) -> None:
        self.registry = registry
        self.settings = registry.settings
        self.client = registry.client

    async def create(
        self,
        name: str,
        role: Role,
        queues: Collection[str] | None,
        expires_ms: int,
        who: str,
    ) -> tuple[ApiKey, str]:
        """A new key and its secret (shown once: only its hash is kept)."""
        key_id = secrets.token_hex(8)
        secret = f"{SECRET_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        scope = json.dumps(sorted(queues)) if queues is not None else ""
        call = Call(
            Lua.APIKEY_CREATE,
            [keys.api_key_key(key_id), keys.API_KEYS, keys.AUDIT_STREAM],
            [key_id, name, role.value, scope, digest(self.settings, secret), expires_ms, who],
            int,
        )
        created_ms = await self.registry.run(call)
        frozen = frozenset(queues) if queues is not None else None
        creator = who.split("|", 1)[0]
        key = ApiKey(key_id, name, role, frozen, created_ms, creator, expires_ms, 0, "", 0)
        return key, secret

    async def revoke(self, key_id: str, who: str) -> bool:
        """Revoke a key (raises KeyNotFound); False when it already was."""
        call = Call(Lua.APIKEY_REVOKE, [keys.api_key_key(key_id), keys.AUDIT_STREAM], [key_id, who], int)
        revoked: int = await self.registry.run(call)
        return revoked == 1

    async def list(self, limit: int = MAX_KEYS) -> list[ApiKey]:
        """Every key, newest first (revoked and expired ones too: the record says)."""
        try:
            ids: list[str] = await self.client.zrevrange(keys.API_KEYS, 0, limit - 1)  # type: ignore[assignment]
            async with self.client.pipeline(transaction=False) as pipe:
                for key_id in ids:
                    pipe.hgetall(keys.api_key_key(key_id))
                records = await pipe.execute()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise RedisUnavailable(str(exc)) from exc
        return [key for record in records if record and (key := parse_record(record)) is not None]

    async def verify(self, secret: str, now_ms: int | None = None) -> ApiKey | None:
        """The live key a secret proves, or None (unknown, wrong, revoked, expired)."""
        match = SECRET_PATTERN.fullmatch(secret.strip())
        if match is None:
            return None
        key_id = match.group(1)
        try:
            record: dict[str, str] = await self.client.hgetall(keys.api_key_key(key_id))  # type: ignore[assignment]
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise RedisUnavailable(str(exc)) from exc
        if not record or not hmac.compare_digest(
            record.get("hash", "").encode(), digest(self.settings, secret.strip()).encode()
        ):
            return None
        key = parse_record(record)
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        if key is None or not key.live(now_ms):
            return None
        if now_ms - key.last_used_ms >= TOUCH_INTERVAL_MS:
            touch = Call(Lua.APIKEY_TOUCH, [keys.api_key_key(key_id)], [TOUCH_INTERVAL_MS], int)
            await self.registry.run(touch)
        return key

    async def still_live(self, key_ids: Sequence[str], now_ms: int | None = None) -> set[str]:
        """Which of these keys still work, in one round trip (the gateway's re-check)."""
        if not key_ids:
            return set()
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for key_id in key_ids:
                    pipe.hgetall(keys.api_key_key(key_id))
                records = await pipe.execute()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise RedisUnavailable(str(exc)) from exc
        live = set()
        for key_id, record in zip(key_ids, records, strict=True):
            key = parse_record(record) if record else None
            if key is not None and key.live(now_ms):
                live.add(key_id)
        return live
