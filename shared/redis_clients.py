"""Every Redis connection of every process comes from here: one URL, or the primary Sentinel names.

URL mode (``FQ_REDIS_URL``) is a plain client. Sentinel mode (``FQ_REDIS_SENTINELS`` set) asks
the Sentinels for the primary of ``FQ_REDIS_SENTINEL_SERVICE`` on each new connection, so
after a failover a reconnect reaches the new primary; redis-py's Sentinel connections also turn
a demoted primary's ``READONLY`` reply into a connection error (redis/sentinel.py,
``SentinelManagedConnection.read_response``), which the retry policy below retries with
backoff. The database number, username, password and TLS still come from ``FQ_REDIS_URL``.

Every client gets socket and connect timeouts, TCP keepalive and a health check (issue 18): a
half-open connection fails within the socket timeout instead of hanging a heartbeat thread.
Blocking reads stay below the socket timeout: the wake-token ``BLPOP`` waits
``FQ_WORKER_IDLE_POLL_MS`` at most, and pub/sub reads wait without a timeout (redis-py reads
subscriptions with ``math.inf``), relying on keepalive and on the publisher's events.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio
import redis.asyncio.retry
import redis.asyncio.sentinel
import redis.sentinel
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from shared.config import Settings, SettingsError

#: Smallest wait (s) between two retries of a command whose connection failed.
RETRY_BASE_S = 0.05
#: Longest wait (s) between two retries: a Sentinel failover takes seconds, so keep trying often.
RETRY_CAP_S = 1.0
#: Errors after which a command is retried on a fresh connection. READONLY means the client
#: still talks to a demoted primary (URL mode behind a DNS name or proxy that moved).
RETRY_ON: tuple[type[redis.RedisError], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.ReadOnlyError,
)


def sentinel_addresses(settings: Settings) -> list[tuple[str, int]]:
    """``FQ_REDIS_SENTINELS`` as (host, port) pairs; a bad entry names the variable."""
    addresses = []
    for entry in settings.redis_sentinels:
        host, sep, port = entry.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise SettingsError(f"FQ_REDIS_SENTINELS: {entry!r} is not host:port")
        addresses.append((host.strip("[]"), int(port)))
    return addresses


def _url_credentials(settings: Settings) -> dict[str, Any]:
    """Database, credentials and TLS from ``FQ_REDIS_URL`` (Sentinel mode asks Sentinels for the address)."""
    parts = urlsplit(settings.redis_url)
    db = parts.path.lstrip("/")
    found: dict[str, Any] = {"db": int(db) if db.isdigit() else 0}
    if parts.username:
        found["username"] = unquote(parts.username)
    if parts.password:
        found["password"] = unquote(parts.password)
    if settings.redis_password:
        found["password"] = settings.redis_password
    if parts.scheme == "rediss":
        found["ssl"] = True
    return found


def connection_options(settings: Settings, *, decode: bool) -> dict[str, Any]:
    """Timeouts, keepalive and health checks every connection gets (issue 18)."""
    return {
        "decode_responses": decode,
        "socket_timeout": settings.redis_socket_timeout_s,
        "socket_connect_timeout": settings.redis_connect_timeout_s,
        "socket_keepalive": True,
        "health_check_interval": settings.redis_health_check_s,
    }


def sync_client(settings: Settings, *, decode: bool = True, **options: Any) -> redis.Redis:
    """A thread-safe client of the current primary; ``options`` override connection options."""
    kwargs = {**connection_options(settings, decode=decode), **options}
    retry = Retry(
        ExponentialWithJitterBackoff(cap=RETRY_CAP_S, base=RETRY_BASE_S), settings.redis_retries, RETRY_ON
    )
    if not settings.redis_sentinels:
        if settings.redis_password:
            kwargs.setdefault("password", settings.redis_password)
        return redis.Redis.from_url(settings.redis_url, retry=retry, **kwargs)
    sentinel = redis.sentinel.Sentinel(  # type: ignore[no-untyped-call]
        sentinel_addresses(settings), sentinel_kwargs=_sentinel_kwargs(settings)
    )
    master: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
        settings.redis_sentinel_service,
        redis_class=_SentinelRedis,
        retry=retry,
        **_url_credentials(settings),
        **kwargs,
    )
    return master


def async_client(
    settings: Settings,
    *,
    decode: bool = True,
    max_connections: int | None = None,
    pool_wait_s: float | None = None,
    **options: Any,
) -> redis.asyncio.Redis:
    """An asyncio client of the current primary.

    With ``pool_wait_s`` the pool blocks that long for a free connection when
    ``max_connections`` are in use (a burst of reconnecting dashboards waits rather than fails).
    """
    kwargs = {**connection_options(settings, decode=decode), **options}
    retry = redis.asyncio.retry.Retry(
        ExponentialWithJitterBackoff(cap=RETRY_CAP_S, base=RETRY_BASE_S), settings.redis_retries, RETRY_ON
    )
    if not settings.redis_sentinels:
        if settings.redis_password:
            kwargs.setdefault("password", settings.redis_password)
        pool_class = (
            redis.asyncio.BlockingConnectionPool if pool_wait_s is not None else redis.asyncio.ConnectionPool
        )
        sized = {} if max_connections is None else {"max_connections": max_connections}
        waits = {} if pool_wait_s is None else {"timeout": pool_wait_s}
        pool = pool_class.from_url(settings.redis_url, retry=retry, **sized, **waits, **kwargs)
        return redis.asyncio.Redis.from_pool(pool)  # owns it: aclose() closes the pool
    sentinel = redis.asyncio.sentinel.Sentinel(  # type: ignore[no-untyped-call]
        sentinel_addresses(settings), sentinel_kwargs=_sentinel_kwargs(settings)
    )
    pool_class_s: type[redis.asyncio.sentinel.SentinelConnectionPool] = (
        _BlockingSentinelPool if pool_wait_s is not None else redis.asyncio.sentinel.SentinelConnectionPool
    )
    if max_connections is not None:
        kwargs["max_connections"] = max_connections
    if pool_wait_s is not None:
        kwargs["timeout"] = pool_wait_s
    kwargs.update(_url_credentials(settings))
    master: redis.asyncio.Redis = sentinel.master_for(
        settings.redis_sentinel_service,
        redis_class=_AsyncSentinelRedis,
        connection_pool_class=pool_class_s,
        retry=retry,
        **kwargs,
    )
    return master


def _sentinel_kwargs(settings: Settings) -> dict[str, Any]:
    """How to reach the Sentinels themselves: short timeouts (one dead Sentinel must not stall discovery)."""
    found: dict[str, Any] = {
        "socket_timeout": settings.redis_connect_timeout_s,
        "socket_connect_timeout": settings.redis_connect_timeout_s,
        "socket_keepalive": True,
    }
    if settings.redis_sentinel_password:
        found["password"] = settings.redis_sentinel_password
    return found


class _SentinelRedis(redis.Redis):
    """A primary's client that also closes its connections to the Sentinels (redis-py leaves them open)."""

    def close(self) -> None:
        super().close()
        self.connection_pool.sentinel_manager.close()  # type: ignore[attr-defined]


class _AsyncSentinelRedis(redis.asyncio.Redis):
    """Asyncio twin of :class:`_SentinelRedis`."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        await self.connection_pool.sentinel_manager.aclose()  # type: ignore[attr-defined]


class _BlockingSentinelPool(
    redis.asyncio.sentinel.SentinelConnectionPool, redis.asyncio.BlockingConnectionPool
):
    """Sentinel discovery with BlockingConnectionPool's wait for a free connection."""


def describe(settings: Settings) -> str:
    """Where the process connects, for logs (never the password)."""
    if settings.redis_sentinels:
        return f"sentinel:{settings.redis_sentinel_service}@{','.join(settings.redis_sentinels)}"
    parts = urlsplit(settings.redis_url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}{parts.path}"
