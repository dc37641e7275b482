"""The monitor's operations duty (issue 20): run queued operations one batch at a time.

Any number of replicas run this task; the lease (``op_lease.lua``) lets one execute at a
time, and every batch checks the lease's fencing token, so a replica that was paused past
its lease changes nothing. A replica killed mid-operation leaves the record's cursor where
its last batch put it; whoever takes the lease next (after ``operation_lease_s``) goes on
from there. Between operations it also purges the trash and exports failure groups.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid

import redis

from services.monitor import failures
from shared import keys, operations
from shared.config import Settings
from shared.errors import FacequeueError, LeaseLost
from shared.logging import get_logger
from shared.metrics import OperationMetrics
from shared.operations import Operation
from shared.registry import AsyncRegistry

log = get_logger(__name__)

#: Seconds between looks for a queued operation when idle (the lease holder is also polled).
IDLE_POLL_S = 0.25
#: Trashed jobs one purge call forgets.
PURGE_BATCH = 500


class OperationRunner:
    """One ``run()`` coroutine executing operations under the lease."""

    def __init__(self, settings: Settings, registry: AsyncRegistry, metrics: OperationMetrics) -> None:
        self.settings = settings
        self.registry = registry
        self.metrics = metrics
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.token: int | None = None
        self.wake = asyncio.Event()
        self._housekeeping_at = 0.0
        #: The operation being run (its record changes only in fields the batch script reads).
        self._current: Operation | None = None

    async def run(self) -> None:
        while True:
            busy = False
            try:
                busy = await self.step()
                if time.monotonic() >= self._housekeeping_at:
                    self._housekeeping_at = time.monotonic() + self.settings.monitor_interval_s
                    await self.housekeeping()
            except LeaseLost:
                log.warning("operations lease lost to another monitor", owner=self.owner)
                self.token = None
            except (FacequeueError, redis.RedisError) as exc:
                log.warning("operations step failed", error=str(exc))
            if not busy:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=IDLE_POLL_S)

    async def step(self) -> bool:
        """Run one batch of the oldest pending operation; False when there was nothing to do.

        Two round trips a batch: the pending head, then the batch (which checks and renews the
        lease itself); the lease is taken only when not held, and the record read only when the
        operation changes or walks ids queue by queue.
        """
        client = self.registry.client
        pending: list[str] = await client.zrange(keys.OPERATIONS_PENDING, 0, 0)  # type: ignore[assignment]
        if not pending:
            if self.token is not None:  # let another replica start the next one at once
                await self.registry.run(operations.lease(self.owner, 0, self.token, release=True))
                self.token = None
            return False
        lease_ms = int(self.settings.operation_lease_s * 1000)
        if self.token is None:
            self.token = await self.registry.run(operations.lease(self.owner, lease_ms, None)) or None
            if self.token is None:
                return False  # another replica runs operations
        op = self._current if self._current is not None and self._current.id == pending[0] else None
        if op is None or op.segments:
            fields: dict[str, str] = await client.hgetall(keys.operation_key(pending[0]))  # type: ignore[assignment]
            if not fields:
                await client.zrem(keys.OPERATIONS_PENDING, pending[0])  # forgotten record
                return True
            op = self._current = Operation.from_hash(fields)
        started = time.perf_counter()
        try:
            state, done, skipped = await self.registry.run(
                operations.batch(
                    op,
                    self.owner,
                    self.token,
                    lease_ms=lease_ms,
                    size=self.settings.operation_batch,
                    trash_ttl_ms=self.settings.trash_ttl_s * 1000,
                )
            )
        except LeaseLost:
            self.token = None
            raise
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        self.metrics.batches.labels(op.action).inc()
        self.metrics.jobs.labels(op.action, "done").inc(done)
        self.metrics.jobs.labels(op.action, "skipped").inc(skipped)
        if state != "running":
            self._current = None
            log.info("operation finished", op=op.id, action=op.action, state=state)
        return True

    async def housekeeping(self) -> None:
        """Purge the trash past its TTL, forget old finished operations, export failure groups."""
        now_ms = await self.registry.now_ms()
        cutoff_ms = now_ms - self.settings.trash_ttl_s * 1000
        for _ in range(20):
            n = await self.registry.run(operations.purge_trash(cutoff_ms, PURGE_BATCH))
            self.metrics.trash_purged.inc(n)
            if n < PURGE_BATCH:
                break
        keep_ms = max(self.settings.operation_keep_s, self.settings.trash_ttl_s) * 1000
        await self.registry.run(operations.forget(now_ms - keep_ms, PURGE_BATCH))
        await failures.export(self.registry, self.metrics, self.settings.failure_groups_exported)
        self.metrics.pending.set(await self.registry.client.zcard(keys.OPERATIONS_PENDING))
