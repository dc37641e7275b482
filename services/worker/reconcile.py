"""What Redis says this worker holds, checked against what it really holds, every beat.

Messages in this worker's ack sets that no thread of it holds go back to Dramatiq's list.

A fetch whose reply was lost (Redis died after running it) leaves its messages in
the worker's ack set while the process never saw them: the worker is alive, so
no reaper touches them, and their jobs would wait forever. Each heartbeat
compares the ack sets with what the process holds; a message missing from the
process on two beats in a row (so not one being fetched right now) is requeued.
Its job is still ``waiting`` (it never started), so nothing runs twice.

Jobs the registry records as ``active`` on this worker that no thread of it runs
(``job_start``'s reply was lost, so the thread skipped the run) would stay active
under a live worker for good: seen so on two beats in a row with the same
generation, they go back to ``waiting`` with a new one (job_orphaned.lua).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared import keys, transitions
from shared.logging import get_logger
from shared.states import JobState

if TYPE_CHECKING:
    from services.worker.broker import FacequeueBroker

log = get_logger(__name__)


class AckReconciler:
    def __init__(self, broker: FacequeueBroker) -> None:
        self.broker = broker
        self._suspects: dict[str, set[str]] = {}

    def check(self, queues: list[str]) -> int:
        """Requeue lost messages; returns how many. Raises redis errors to the heartbeat loop."""
        broker = self.broker
        held = set(broker.ctx.runs.job_ids())
        for consumer in list(broker.consumers):
            held |= consumer.held_message_ids()
        requeued = 0
        for queue in queues:
            members = broker.client.smembers(keys.dramatiq_acks_key(broker.broker_id, queue))
            ids = {m.decode() if isinstance(m, bytes) else str(m) for m in members}
            suspects = {m for m in ids if m.split(":", 1)[0] not in held}
            lost = sorted(suspects & self._suspects.get(queue, set()))
            self._suspects[queue] = suspects - set(lost)
            if lost:
                broker.do_requeue(queue, *lost)
                requeued += len(lost)
                log.warning("requeued messages this worker had lost track of", queue=queue, messages=lost)
        return requeued


class RunReconciler:
    """Requeues jobs recorded as active on this worker that none of its threads runs."""

    def __init__(self, broker: FacequeueBroker) -> None:
        self.broker = broker
        #: (job id, queue) -> generation, for jobs found orphaned on the previous beat.
        self._suspects: dict[tuple[str, str], int] = {}

    def check(self, queues: list[str]) -> int:
        """Requeue orphaned runs; returns how many. Raises redis errors to the heartbeat loop."""
        ctx = self.broker.ctx
        running = set(ctx.runs.job_ids())
        client = ctx.registry.client
        suspects: dict[tuple[str, str], int] = {}
        for queue in queues:
            active: list[str] = client.zrange(keys.state_key(queue, JobState.ACTIVE), 0, -1)  # type: ignore[assignment]
            for job_id in active:
                if job_id in running:
                    continue
                fields: list[str | None] = client.hmget(keys.job_key(job_id), ["worker", "gen"])  # type: ignore[assignment]
                if fields[0] == ctx.worker_id and fields[1] is not None:
                    suspects[(job_id, queue)] = int(fields[1])
        requeued = 0
        for (job_id, queue), gen in suspects.items():
            seen_before = self._suspects.get((job_id, queue)) == gen
            if seen_before and ctx.registry.run(transitions.orphaned(job_id, queue, gen, ctx.worker_id)):
                requeued += 1
                log.warning("requeued a job this worker was recorded as running", job_id=job_id)
        self._suspects = {k: g for k, g in suspects.items() if self._suspects.get(k) != g}
        return requeued
