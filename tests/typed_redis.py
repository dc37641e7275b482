"""Typed reads from a ``decode_responses=True`` client.

redis-py annotates every reply as the union of what any client mode could return (bytes or str,
sync or awaitable); the tests' ``raw`` client always decodes, so these say what it returns, once.
"""

from __future__ import annotations

from typing import cast

import redis

Entries = list[tuple[str, dict[str, str]]]


def xrange(raw: redis.Redis, key: str, start: str = "-", end: str = "+", count: int | None = None) -> Entries:
    return cast(Entries, raw.xrange(key, start, end, count))


def xrevrange(raw: redis.Redis, key: str, count: int | None = None) -> Entries:
    """Newest entries first."""
    return cast(Entries, raw.xrevrange(key, count=count))


def get(raw: redis.Redis, key: str) -> str | None:
    return cast("str | None", raw.get(key))


def hget(raw: redis.Redis, key: str, field: str) -> str | None:
    return cast("str | None", raw.hget(key, field))


def keys(raw: redis.Redis, pattern: str = "*") -> list[str]:
    return cast(list[str], raw.keys(pattern))


def hgetall(raw: redis.Redis, key: str) -> dict[str, str]:
    return cast(dict[str, str], raw.hgetall(key))


def zrange(raw: redis.Redis, key: str, start: int = 0, end: int = -1) -> list[str]:
    return cast(list[str], raw.zrange(key, start, end))


def smembers(raw: redis.Redis, key: str) -> set[str]:
    return cast(set[str], raw.smembers(key))


def pubsub(raw: redis.Redis) -> redis.client.PubSub:
    """A PubSub of ``raw``: the sync ``Redis.pubsub`` is the one method redis-py leaves unannotated."""
    pubsub: redis.client.PubSub = raw.pubsub()  # type: ignore[no-untyped-call]  # def pubsub(self, **kwargs)
    return pubsub
