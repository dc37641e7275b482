"""``report_progress`` for actors: records progress on the job and emits a ``progress`` event."""

from __future__ import annotations

import dramatiq

from services.worker.broker import FacequeueBroker
from shared import transitions
from shared.errors import FacequeueError


def report_progress(percent: float, stage: str = "") -> bool:
    """Record the calling actor's progress; False outside a facequeue run or once superseded."""
    broker = dramatiq.get_broker()
    if not isinstance(broker, FacequeueBroker):
        return False
    run = broker.ctx.runs.current()
    if run is None:
        return False
    clamped = max(0.0, min(100.0, float(percent)))
    call = transitions.progress(
        run.job_id, run.queue, run.gen, broker.broker_id, round(clamped, 2), stage[:200]
    )
    try:
        return bool(broker.ctx.registry.run(call))
    except FacequeueError:  # progress is informative: Redis being away must not fail the job
        broker.ctx.metrics.redis_errors.labels("progress").inc()
        return False
