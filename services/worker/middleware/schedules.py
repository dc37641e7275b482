"""Publishes the schedules declared in code (``@scheduled``) when a worker process boots (issue 21).

Each process of every worker publishes the same declarations; schedule_save.lua in
``code`` mode changes nothing when a declaration is already as stored, keeps an
operator's pause, and keeps the pending fire time while cron and zone are unchanged,
so restarts and replicas never re-fire or skip a time.
"""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq.middleware import Middleware

from services.worker.context import WorkerContext
from shared.errors import FacequeueError
from shared.logging import get_logger
from shared.schedules import DECLARED, save

log = get_logger(__name__)

#: Who the audit trail names for a published declaration.
PUBLISHER = "code"


class SchedulePublisher(Middleware):
    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        registry = self.ctx.registry
        for schedule in list(DECLARED.values()):
            try:
                changed = registry.run(save(schedule, registry.now_ms(), mode="code", who=PUBLISHER))
            except FacequeueError as exc:  # Redis down: the next boot publishes it
                log.warning("schedule declared in code not published", schedule=schedule.name, error=str(exc))
                continue
            if changed:
                log.info("schedule declared in code published", schedule=schedule.name, cron=schedule.cron)
