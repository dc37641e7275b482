"""Per-queue limits: at most N jobs at once across the fleet, at most N starts per window (issue 21).

Anchors: Oban's global limits and rate limits, Sidekiq Enterprise's concurrent and
window limiters. Limits are a hash at ``fq:limits:<queue>``; the dispatch script
(jobs_dispatch.lua) enforces them where jobs are handed to Dramatiq, so they hold
across any number of worker processes. A job holds a concurrency slot from its
hand-out (the dispatched set, so prefetched copies count) until it leaves the
active set: completion, failure, retry, deletion and the reaping of a dead worker
free it by the moves they already make. An unlimited queue has no hash at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared import keys
from shared.registry import AsyncRegistry
from shared.scripts import Call, Lua
from shared.states import JobState

#: Highest concurrency limit (a safety bound; far above any fleet).
MAX_CONCURRENCY = 100_000
#: Highest rate limit per window: the hand-out log holds at most this many entries.
MAX_RATE = 100_000
#: Shortest and longest rate window, in seconds.
MIN_WINDOW_S = 0.1
MAX_WINDOW_S = 86_400.0
#: Window when a request names none, in seconds ("20 per second").
DEFAULT_WINDOW_S = 1.0


@dataclass(frozen=True, slots=True)
class Limits:
    """A queue's limits; None means no such limit."""

    concurrency: int | None = None
    rate_limit: int | None = None
    rate_window_s: float = DEFAULT_WINDOW_S

    @property
    def unlimited(self) -> bool:
        return self.concurrency is None and self.rate_limit is None


@dataclass(frozen=True, slots=True)
class Usage:
    """A queue's limits and how much of them is taken now."""

    limits: Limits
    #: Jobs handed to Dramatiq or running (what the concurrency limit counts).
    in_use: int
    #: Hand-outs within the current rate window.
    in_window: int
    #: Milliseconds the queue's jobs have waited because of its limits, all told.
    limited_wait_ms: int


def set_limits(queue: str, limits: Limits, *, who: str) -> Call[int]:
    """Set ``queue``'s limits (all None: unlimited); audited and announced as a ``limits`` event."""
    return Call(
        Lua.QUEUE_LIMITS,
        [keys.limits_key(queue), keys.QUEUES, keys.AUDIT_STREAM, keys.handouts_key(queue)],
        [
            queue,
            who,
            "" if limits.concurrency is None else limits.concurrency,
            "" if limits.rate_limit is None else limits.rate_limit,
            round(limits.rate_window_s * 1000),
        ],
        int,
    )


def _opt_int(raw: str | None) -> int | None:
    return None if raw is None else int(raw)


async def read_usage(registry: AsyncRegistry, queue: str) -> Usage:
    """``queue``'s limits and their use, read in one round trip (reads only: no script)."""
    client = registry.client
    async with client.pipeline(transaction=True) as pipe:
        pipe.hmget(keys.limits_key(queue), ["concurrency", "rate_limit", "rate_window_ms"])
        pipe.zcard(keys.dispatched_key(queue))
        pipe.zcard(keys.state_key(queue, JobState.ACTIVE))
        pipe.get(keys.limited_wait_key(queue))
        (concurrency, rate, window_ms), dispatched, active, waited = await pipe.execute()
    window_s = int(window_ms) / 1000 if window_ms is not None else DEFAULT_WINDOW_S
    in_window = 0
    if rate is not None:
        cutoff_ms = await registry.now_ms() - int(window_ms)
        in_window = int(await client.zcount(keys.handouts_key(queue), f"({cutoff_ms}", "+inf"))
    limits = Limits(_opt_int(concurrency), _opt_int(rate), window_s)
    return Usage(limits, int(dispatched) + int(active), in_window, int(waited or 0))
