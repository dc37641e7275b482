"""Records every transition of the jobs this worker runs, from Dramatiq's own hooks.

Final states come from the ack: only then has Dramatiq settled the message
(``after_process_message`` runs before Retries decides). Every outcome is recorded
by services/worker/outcomes.py, which documents its three paths; ``after_ack`` /
``after_nack`` are the last of them.
Stale copies — deleted, re-prioritised, recovered, already run — are skipped
by comparing the message's generation with the registry in ``job_start.lua``.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from dramatiq.middleware import Middleware, SkipMessage

from services.worker import outcomes
from services.worker.context import WorkerContext
from services.worker.runs import Run
from shared import transitions
from shared.errors import FacequeueError
from shared.logging import get_logger
from shared.messages import GEN_OPTION, JOB_OPTION

log = get_logger(__name__)


class JobStateMiddleware(Middleware):
    """Marks jobs active, completed, failed; must be the broker's first middleware."""

    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx

    def before_process_message(self, broker: Any, message: Any) -> None:
        job_id = message.options.get(JOB_OPTION)
        if job_id is None:
            self.ctx.metrics.skipped.labels(message.queue_name, "untracked").inc()
            raise SkipMessage("message carries no facequeue job id")
        queue, gen = message.queue_name, int(message.options.get(GEN_OPTION, -1))
        try:
            status = self.ctx.registry.run(
                transitions.start(job_id, queue, gen, self.ctx.worker_id, broker.max_retries_for(message))
            )
        except FacequeueError as exc:
            # Never run a job the registry does not know is running; the copy is
            # dispatched again once Redis answers (jobs_dispatch.lua's orphan check).
            self.ctx.metrics.redis_errors.labels("start").inc()
            raise SkipMessage(f"could not mark job active: {exc}") from exc
        if status != "started":
            self.ctx.metrics.skipped.labels(queue, status).inc()
            log.info("stale copy skipped", job_id=job_id, reason=status)
            raise SkipMessage(status)
        self.ctx.runs.begin(Run(job_id, queue, message.actor_name, gen))
        structlog.contextvars.bind_contextvars(job_id=job_id, queue=queue)
        metrics = self.ctx.metrics
        metrics.child(metrics.transitions, queue, "active").inc()
        metrics.child(metrics.active, queue).inc()

    def after_process_message(
        self, broker: Any, message: Any, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        run = self.ctx.runs.current()
        if run is not None:
            run.result, run.exception = result, exception
            metrics = self.ctx.metrics
            metrics.child(metrics.duration, run.queue, run.actor).observe(time.monotonic() - run.started)

    def after_ack(self, broker: Any, message: Any) -> None:
        run = self._finish(failed=False)
        if run is not None:
            outcomes.settle(self.ctx, run, message, nacked=False)

    def after_nack(self, broker: Any, message: Any) -> None:
        run = self._finish(failed=True)
        if run is not None:
            outcomes.settle(self.ctx, run, message, nacked=True)

    def _finish(self, *, failed: bool) -> Run | None:
        run = self.ctx.runs.end(failed=failed)
        if run is not None:
            self.ctx.metrics.child(self.ctx.metrics.active, run.queue).dec()
            structlog.contextvars.unbind_contextvars("job_id", "queue")
        return run
