"""Reading the registry the way an auditor would: events per job, keyspace snapshots."""

from __future__ import annotations

import json
import time
from typing import Any, cast

import redis

from shared import keys
from tests import typed_redis


def events(raw: redis.Redis) -> list[dict[str, Any]]:
    """Every event in ``fq:events``, decoded, in stream order."""
    out = []
    for entry_id, fields in typed_redis.xrange(raw, keys.EVENTS_STREAM):
        out.append(
            {
                "id": entry_id,
                "seq": int(fields["seq"]),
                "type": fields["type"],
                "data": json.loads(fields["data"]),
            }
        )
    return out


def transitions_of(raw: redis.Redis, job_id: str) -> list[tuple[str | None, str | None]]:
    """The (from, to) pairs a job went through, in order."""
    return [
        (e["data"]["from"], e["data"]["to"])
        for e in events(raw)
        if e["type"] == "job" and e["data"]["job"] == job_id
    ]


def snapshot(raw: redis.Redis) -> dict[str, Any]:
    """Every key's type and content: compare before/after to prove nothing changed."""
    out: dict[str, Any] = {}
    for key in sorted(cast(list[str], raw.keys("*"))):
        kind = raw.type(key)
        if kind == "hash":
            out[key] = raw.hgetall(key)
        elif kind == "zset":
            out[key] = raw.zrange(key, 0, -1, withscores=True)
        elif kind == "set":
            out[key] = sorted(typed_redis.smembers(raw, key))
        elif kind == "list":
            out[key] = raw.lrange(key, 0, -1)
        elif kind == "stream":
            out[key] = raw.xrange(key)
        else:
            out[key] = raw.get(key)
    return out


def state_total(counts: dict[str, dict[str, int]]) -> int:
    return sum(n for per_state in counts.values() for n in per_state.values())


def session_cookie(response: Any) -> str:
    """The session cookie value a login response set (aiohttp's ``ClientResponse.cookies``)."""
    from shared.sessions import SESSION_COOKIE

    return str(response.cookies[SESSION_COOKIE].value)


def resign(secret: str, cookie: str, issued_s: int) -> str:
    """A session cookie re-dated to ``issued_s`` and signed with ``secret``: what a forger
    holding (or guessing) the secret could make of a real session's cookie."""
    import hashlib
    import hmac

    session_id = cookie.split(".")[0]
    issued = f"{session_id}.{issued_s}"
    return f"{issued}.{hmac.new(secret.encode(), issued.encode(), hashlib.sha256).hexdigest()}"


def backfill(raw: redis.Redis, count: int, data_bytes: int = 300) -> int:
    """``count`` job events in ``fq:events`` as the Lua scripts write them (history: not published).

    Returns the newest seq. Run before the gateway starts, so its subscription begins after them.
    """
    start = int(cast(str | None, raw.get(keys.EVENTS_SEQ)) or 0)
    padding = "x" * data_bytes
    pipe = raw.pipeline(transaction=False)
    for seq in range(start + 1, start + count + 1):
        data = json.dumps(
            {"job": f"j{seq}", "queue": "diagnostics", "from": None, "to": "waiting", "pad": padding}
        )
        pipe.xadd(keys.EVENTS_STREAM, {"seq": seq, "type": "job", "ts": f"{time.time():.3f}", "data": data})
        if seq % 1000 == 0:
            pipe.execute()
    pipe.set(keys.EVENTS_SEQ, start + count)
    pipe.execute()
    return start + count
