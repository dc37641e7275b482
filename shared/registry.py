"""The job registry: run transitions and read jobs, from threads or from asyncio.

Both classes execute the I/O-free calls of :mod:`shared.transitions`, so a
transition is defined once whichever kind of process runs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import redis
import redis.asyncio

from shared import keys, reads, redis_clients, worker_calls
from shared.config import Settings
from shared.errors import JobNotFound, RedisUnavailable
from shared.jobs import Job
from shared.metrics import ReplicationMetrics
from shared.scripts import AsyncScripts, Call, Durability, Lua, Scripts
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

    def get(self, job_id: str) -> Job:
        try:
            fields: dict[str, str] = self.client.hgetall(keys.job_key(job_id))  # type: ignore[assignment]
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise RedisUnavailable(str(exc)) from exc
        if not fields:
            raise JobNotFound(f"no job {job_id!r}")
        return Job.from_hash(fields)

    def queues(self) -> list[str]:
        return sorted(self.client.smembers(keys.QUEUES))  # type: ignore[arg-type]

    def now_ms(self) -> int:
        """Now on the Redis clock, which every heartbeat, eta and finish time uses."""
        seconds, micros = self.client.time()
        return int(seconds) * 1000 + int(micros) // 1000

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
        dead_after_ms = int(self.settings.worker_dead_s * 1000)
        stale: list[str] = self.client.zrangebyscore(keys.WORKERS, "-inf", now_ms - dead_after_ms)  # type: ignore[assignment]
        reaped = {w: self.run(reap_call(self.settings, w, queues)) for w in stale}
        return {w: n for w, n in reaped.items() if n >= 0}

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
        try:
            fields: dict[str, Any] = await self.client.hgetall(keys.job_key(job_id))  # type: ignore[assignment]
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise RedisUnavailable(str(exc)) from exc
        if not fields:
            raise JobNotFound(f"no job {job_id!r}")
        return Job.from_hash(fields)

    async def now_ms(self) -> int:
        """Asyncio twin of :meth:`Registry.now_ms`."""
        seconds, micros = await self.client.time()
        return int(seconds) * 1000 + int(micros) // 1000

    async def queues(self) -> list[str]:
        members: set[str] = await self.client.smembers(keys.QUEUES)  # type: ignore[assignment]
        return sorted(members)

    async def counts(self, queues: Sequence[str] | None = None) -> dict[str, dict[str, int]]:
        return await self.run(reads.counts(await self.queues() if queues is None else queues))

    async def reap_dead(self, queues: Sequence[str], now_ms: int) -> dict[str, int]:
        """Asyncio twin of :meth:`Registry.reap_dead`."""
        dead_after_ms = int(self.settings.worker_dead_s * 1000)
        stale: list[str] = await self.client.zrangebyscore(keys.WORKERS, "-inf", now_ms - dead_after_ms)  # type: ignore[assignment]
        reaped = {w: await self.run(reap_call(self.settings, w, queues)) for w in stale}
        return {w: n for w, n in reaped.items() if n >= 0}

    async def close(self) -> None:
        await self.client.aclose()


def reap_call(settings: Settings, worker_id: str, queues: Sequence[str]) -> Call[int]:
    """The reap of a worker whose beat is older than ``worker_dead_s``, with the settings' loss limit."""
    return worker_calls.reap_worker(
        worker_id, queues, int(settings.worker_dead_s * 1000), max_losses=settings.max_worker_losses
    )
