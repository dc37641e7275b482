"""Failed credentials are rate-limited per client address, so tokens cannot be guessed online.

A fixed window in Redis (shared by every API replica): after ``login_max_failures``
wrong tokens or sessions within ``login_window_s``, the address gets 429 with
Retry-After, even for a right token, until the window ends.
"""

from __future__ import annotations

from aiohttp import web

from services.api.errors import error_response
from shared import keys
from shared.http import REDIS, SETTINGS


def _key(request: web.Request) -> str:
    return keys.login_failures_key(request.remote or "unknown")


async def refusal(request: web.Request) -> web.Response | None:
    """A 429 when this address has failed too often; None when it may try."""
    settings = request.app[SETTINGS]
    client = request.app[REDIS]
    failures = await client.get(_key(request))
    if failures is None or int(failures) < settings.login_max_failures:
        return None
    retry_after = max(1, await client.ttl(_key(request)))
    return error_response(
        429,
        "too_many_attempts",
        f"too many failed logins from this address; retry in {retry_after} s",
        headers={"Retry-After": str(retry_after)},
    )


async def record_failure(request: web.Request) -> None:
    settings = request.app[SETTINGS]
    async with request.app[REDIS].pipeline(transaction=True) as pipe:
        pipe.incr(_key(request))
        pipe.expire(_key(request), settings.login_window_s, nx=True)
        await pipe.execute()
