"""Wrong credentials are limited per client address and per token prefix; right ones never are.

A fixed window in Redis, shared by every API and gateway replica. Only a failure is
counted and only a failure is refused: a caller past the limit gets 429 with
Retry-After for each further wrong credential, while a credential that verifies
passes at once (before issue 16 a 429 also refused correct tokens, so anyone could
lock every admin out through a shared proxy address). Guessing stays out of reach
because tokens are at least 32 random characters; the limit bounds the noise and
load of trying. The token-prefix counter catches one guesser spread over many addresses.
"""

from __future__ import annotations

import hashlib

import redis
import redis.asyncio

from shared import keys
from shared.config import Settings
from shared.errors import RedisUnavailable

#: Characters of a presented token that key its failure counter (a digest of them is stored).
TOKEN_PREFIX_CHARS = 8


def _token_key(token: str) -> str:
    return keys.token_failures_key(hashlib.sha256(token[:TOKEN_PREFIX_CHARS].encode()).hexdigest()[:32])


class FailureLimiter:
    """Counts wrong credentials and says when a caller has had too many."""

    def __init__(self, client: redis.asyncio.Redis, settings: Settings) -> None:
        self.client = client
        self.max_failures = settings.login_max_failures
        self.window_s = settings.login_window_s

    async def fail(self, address: str, token: str = "") -> int | None:
        """Record one wrong credential; the seconds to wait when this one is over the limit, else None."""
        counters = [keys.login_failures_key(address)]
        if token:
            counters.append(_token_key(token))
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                for key in counters:
                    pipe.incr(key)
                    pipe.expire(key, self.window_s, nx=True)
                    pipe.ttl(key)
                results = await pipe.execute()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise RedisUnavailable(str(exc)) from exc
        waits = [
            max(1, int(results[i + 2]))
            for i in range(0, len(results), 3)
            if int(results[i]) > self.max_failures
        ]
        return max(waits) if waits else None
