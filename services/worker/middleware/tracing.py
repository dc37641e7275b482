"""Worker spans of a job, continuing the trace of whoever submitted it (shared/tracing.py).

Three spans per delivery, children of the submitter's span carried in the message options:
``wait <actor>`` from the message's creation to the start (time spent waiting or delayed),
``run <actor>`` around the actor, and ``complete <actor>`` when the outcome is acknowledged
(failed on nack; on ack, retried when the run raised, completed otherwise). All are no-ops
unless tracing is on.
"""

from __future__ import annotations

import threading
from typing import Any

import dramatiq
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, StatusCode

from shared import tracing


class JobTracing(dramatiq.Middleware):
    """Spans for the start, run and completion of each job this process works on."""

    def __init__(self) -> None:
        #: Job id -> its run span, the submitter's context, and whether the run raised.
        self._runs: dict[str, tuple[trace.Span, Context, bool]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _attributes(message: Any) -> dict[str, Any]:
        return {
            tracing.JOB_ATTRIBUTE: message.message_id,
            "messaging.system": "dramatiq",
            "messaging.destination.name": message.queue_name,
            "facequeue.actor": message.actor_name,
            "facequeue.retries": int(message.options.get("retries", 0)),
        }

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        parent = tracing.extract(message.options)
        tracer = tracing.tracer()
        attributes = self._attributes(message)
        created_ns = int(message.message_timestamp) * 1_000_000
        wait = tracer.start_span(
            f"wait {message.actor_name}", context=parent, attributes=attributes, start_time=created_ns
        )
        wait.end()  # now: the job has just been marked active (JobStateMiddleware runs first)
        run = tracer.start_span(
            f"run {message.actor_name}", context=parent, kind=SpanKind.CONSUMER, attributes=attributes
        )
        with self._lock:
            self._runs[message.message_id] = (run, parent, False)

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        with self._lock:
            found = self._runs.get(message.message_id)
            if found is not None and exception is not None:
                self._runs[message.message_id] = (found[0], found[1], True)
        if found is None:
            return
        run = found[0]
        if exception is not None:
            run.record_exception(exception)
            run.set_status(StatusCode.ERROR, type(exception).__name__)
        run.end()

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        with self._lock:
            found = self._runs.pop(message.message_id, None)
        if found is not None:
            found[0].set_attribute("facequeue.skipped", True)
            found[0].end()

    def after_ack(self, broker: dramatiq.Broker, message: Any) -> None:
        self._complete(message, "completed")

    def after_nack(self, broker: dramatiq.Broker, message: Any) -> None:
        self._complete(message, "failed")

    def _complete(self, message: Any, outcome: str) -> None:
        with self._lock:
            found = self._runs.pop(message.message_id, None)
        if found is None:
            return
        run, parent, raised = found
        # A failed attempt that will be retried is acked too (its copy went back to delayed).
        if outcome == "completed" and raised:
            outcome = "retried"
        span = tracing.tracer().start_span(
            f"complete {message.actor_name}",
            context=trace.set_span_in_context(run, parent),
            attributes={**self._attributes(message), "facequeue.outcome": outcome},
        )
        span.end()
