"""Spans of the gateway's delivery of job events, in the trace of the job (shared/tracing.py).

Events are published by Lua scripts and carry no trace context; the job's record does (the
submitter's ``traceparent`` in its stored message). Only when tracing is on, each delivered job
event looks it up, off the reader's path, and records ``deliver job <from>-><to>`` from the
event's publication to its hand-off to the clients' queues.
"""

from __future__ import annotations

import asyncio
import json
import time

import redis.asyncio
from opentelemetry.trace import SpanKind

from services.stream.frames import Frame
from shared import keys, tracing
from shared.events import EventType
from shared.logging import get_logger
from shared.messages import decode_template

log = get_logger(__name__)


class DeliveryTraces:
    """Records a delivery span per job event, never holding up the fan-out."""

    #: Lookups in flight at most; past it deliveries go untraced rather than pile up.
    MAX_PENDING = 1000

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.redis = client
        self.pending: set[asyncio.Task[None]] = set()

    def delivered(self, frame: Frame, clients: int) -> None:
        if frame.type != EventType.JOB or len(self.pending) >= self.MAX_PENDING:
            return
        task = asyncio.get_running_loop().create_task(self._record(frame, clients, time.time_ns()))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _record(self, frame: Frame, clients: int, handed_ns: int) -> None:
        try:
            data = json.loads(frame.payload)["data"]
            job_id = str(data["job"])
            template = await self.redis.hget(keys.job_key(job_id), "msg")
        except Exception as exc:  # a trace is never worth a failure
            log.debug("delivery not traced", error=repr(exc))
            return
        if not template:
            return  # the job is gone (deleted, trimmed)
        parent = tracing.extract(decode_template(str(template)).get("options", {}))
        span = tracing.tracer().start_span(
            f"deliver job {data.get('from')}->{data.get('to')}",
            context=parent,
            kind=SpanKind.PRODUCER,
            start_time=int(frame.ts * 1e9),
            attributes={
                tracing.JOB_ATTRIBUTE: job_id,
                "facequeue.event.seq": frame.seq or 0,
                "facequeue.stream.clients": clients,
            },
        )
        span.end(end_time=max(handed_ns, int(frame.ts * 1e9)))
