"""The job registry: run transitions and read jobs, from threads or from asyncio.

Both classes execute the I/O-free calls of shared/transitions.py, actions.py,
worker_calls.py and reads.py, so a call is defined once whichever kind of process runs
it; the little I/O of their own (a job's hash, the clock, stale workers) is parsed by
the module functions below, shared by both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import redis
import redis.asyncio

from shared import keys, reads, redis_clients, worker_calls
from shared.config import Settings
from shared.errors import JobNotFound
from shared.jobs import Job
from shared.metrics import ReplicationMetrics
from shared.scripts import AsyncScripts, Call, Durability, Lua, Scripts, translated
from shared.states import JobState

T = TypeVar("T")


def durability(
    settings: Settings, metrics: ReplicationMetrics | None = None, strict: frozenset[Lua] = frozenset()
) -> Durability:
    """The ``FQ_REDIS_MIN_REPLICAS_ACK`` policy; shortfalls are counted on ``metrics`` (private if None)."""
    counter = (metrics or ReplicationMetrics()).wait_timeouts
    return Durability(
        settings.redis_min_replicas_ack,
        settings.redis_wait_timeout_ms,
        strict,
        lambda script: counter.labels(script).inc(),
    )


def job_from(job_id: str, fields: dict[str, str]) -> Job:
    """A job from its hash; JobNotFound when there is none."""
    if not fields:
        raise JobNotFound(f"no job {job_id!r}")
    return Job.from_hash(fields)


def redis_ms(reply: tuple[Any, Any]) -> int:
    """Milliseconds from a TIME reply: the Redis clock every heartbeat, eta and finish time uses."""
    seconds, micros = reply
    return int(seconds) * 1000 + int(micros) // 1000


def dead_before_ms(settings: Settings, now_ms: int) -> int:
    """Workers whose last beat is older than this are dead (``worker_dead_s``)."""
    return now_ms - int(settings.worker_dead_s * 1000)


def _reaped(results: dict[str, int]) -> dict[str, int]:
    """Jobs given back per reaped worker (a worker found alive again, -1, is left out)."""
    return {w: n for w, n in results.items() if n >= 0}


class Registry:
    """Synchronous registry for worker threads, producers and the CLI."""

    def __init__(
        self, settings: Settings, client: redis.Redis | None = None, policy: Durability | None = None
    ) -> None:
        self.settings = settings
        self.client = client or redis_clients.sync_client(settings)
        self.scripts = Scripts(self.client, settings.events_maxlen, policy or durability(settings))

    def run(self, call: Call[T]) -> T:
        """Execute one transition or read."""
        return self.scripts.run(call)

    def run_many(self, calls: Sequence[Call[Any]]) -> list[Any]:
        """Execute many, pipelined in one round trip (each atomic on its own); replies in order."""
        return self.scripts.run_many(calls)

    def get(self, job_id: str) -> Job:
        with translated():
            fields: dict[str, str] = self.client.hgetall(keys.job_key(job_id))  # type: ignore[assignment]
        return job_from(job_id, fields)

    def queues(self) -> list[str]:
        return sorted(self.client.smembers(keys.QUEUES))  # type: ignore[arg-type]

    def now_ms(self) -> int:
        """Now on the Redis clock, which every heartbeat, eta and finish time uses."""
        return redis_ms(self.client.time())

    def counts(self, queues: Sequence[str] | None = None) -> dict[str, dict[str, int]]:
        return self.run(reads.counts(self.queues() if queues is None else queues))

    def list(
        self, queue: str, state: JobState, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[Job], str | None]:
        return self.run(reads.list_jobs(queue, state, limit, cursor))

    def reap_dead(self, queues: Sequence[str], now_ms: int) -> dict[str, int]:
        """Recover every worker whose last beat is older than ``worker_dead_s``.

        Returns jobs moved back to waiting per reaped worker.
        """
        cutoff = dead_before_ms(self.settings, now_ms)
        stale: list[str] = self.client.zrangebyscore(keys.WORKERS, "-inf", cutoff)  # type: ignore[assignment]
        return _reaped({w: self.run(reap_call(self.settings, w, queues)) for w in stale})

    def close(self) -> None:
        self.client.close()


class AsyncRegistry:
    """Asyncio registry for the api, stream and monitor services."""

    def __init__(
        self, settings: Settings, client: redis.asyncio.Redis | None = None, policy: Durability | None = None
    ) -> None:
        self.settings = settings
        self.client = client or redis_clients.async_client(settings)
        self.scripts = AsyncScripts(self.client, settings.events_maxlen, policy or durability(settings))

    async def run(self, call: Call[T]) -> T:
        """Execute one transition or read."""
        return await self.scripts.run(call)

    async def get(self, job_id: str) -> Job:
        with translated():
            fields: dict[str, str] = await self.client.hgetall(keys.job_key(job_id))  # type: ignore[assignment]
        return job_from(job_id, fields)

    async def now_ms(self) -> int:
        """Asyncio twin of :meth:`Registry.now_ms`."""
        return redis_ms(await self.client.time())

    async def queues(self) -> list[str]:
        members: set[str] = await self.client.smembers(keys.QUEUES)  # type: ignore[assignment]
        return sorted(members)

    async def counts(self, queues: Sequence[str] | None = None) -> dict[str, dict[str, int]]:
        return await self.run(reads.counts(await self.queues() if queues is None else queues))

    async def reap_dead(self, queues: Sequence[str], now_ms: int) -> dict[str, int]:
        """Asyncio twin of :meth:`Registry.reap_dead`."""
        cutoff = dead_before_ms(self.settings, now_ms)
        stale: list[str] = await self.client.zrangebyscore(keys.WORKERS, "-inf", cutoff)  # type: ignore[assignment]
        return _reaped({w: await self.run(reap_call(self.settings, w, queues)) for w in stale})

    async def close(self) -> None:
        await self.client.aclose()


def reap_call(settings: Settings, worker_id: str, queues: Sequence[str]) -> Call[int]:
    """The reap of a worker whose beat is older than ``worker_dead_s``, with the settings' loss limit."""
    return worker_calls.reap_worker(
        worker_id, queues, int(settings.worker_dead_s * 1000), max_losses=settings.max_worker_losses
    )
