"""Messages in this worker's ack sets that no thread of it holds go back to Dramatiq's list.

A fetch whose reply was lost (Redis died after running it) leaves its messages in
the worker's ack set while the process never saw them: the worker is alive, so
no reaper touches them, and their jobs would wait forever. Each heartbeat
compares the ack sets with what the process holds; a message missing from the
process on two beats in a row (so not one being fetched right now) is requeued.
Its job is still ``waiting`` (it never started), so nothing runs twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared import keys
from shared.logging import get_logger

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
