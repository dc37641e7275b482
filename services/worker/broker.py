"""facequeue's Dramatiq broker: Dramatiq executes, facequeue owns the job state.

The subclass changes three things (DESIGN.md, "Flow of a job"):
  * every ``enqueue`` goes to facequeue's registry: a delay becomes the
    ``delayed`` state (Dramatiq's Retries included), a plain ``actor.send()``
    becomes a submitted job, so Dramatiq's list only ever holds due jobs;
  * before each fetch the consumer runs the dispatch script, which releases due
    delayed jobs and tops the list up from the priority-ordered waiting set,
    and tells it the queue is paused (then it fetches nothing);
  * Dramatiq's own maintenance and dead-letter set are off: the registry keeps
    failed jobs and the reaper recovers dead workers at once.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.common import compute_backoff
from dramatiq.message import Message

from services.worker.context import WorkerContext
from shared import keys, transitions
from shared.errors import FacequeueError, RedisUnavailable
from shared.logging import get_logger
from shared.messages import JOB_OPTION
from shared.submit import submit_call

log = get_logger(__name__)


class FacequeueBroker(RedisBroker):
    """RedisBroker whose queue contents are decided by facequeue's registry."""

    def __init__(self, ctx: WorkerContext, *, middleware: list[Any] | None = None) -> None:
        # maintenance_chance=0: Dramatiq would requeue a dead worker's messages
        # only after 60 s and by chance; workers_reap.lua does it at once.
        super().__init__(url=ctx.settings.redis_url, middleware=middleware, maintenance_chance=0)
        #: Dramatiq names its ack sets after the broker id; making it the
        #: facequeue worker id lets the reaper find a dead worker's messages.
        self.broker_id = ctx.worker_id
        self.ctx = ctx
        #: Every consumer alive in this process (Dramatiq replaces one after a connection error).
        self.consumers: weakref.WeakSet[FacequeueConsumer] = weakref.WeakSet()

    @property
    def consumer_class(self) -> type[FacequeueConsumer]:
        return FacequeueConsumer

    def declare_queue(self, queue_name: str) -> None:
        """Declare the queue but no Dramatiq delay queue: delays live in facequeue."""
        if queue_name not in self.queues:
            self.emit_before("declare_queue", queue_name)
            self.queues.add(queue_name)
            self.emit_after("declare_queue", queue_name)

    def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        job_id = message.options.get(JOB_OPTION)
        if job_id is None:
            self._submit(message, delay)
            return message
        run = self.ctx.runs.current()
        if run is None or run.job_id != job_id:
            log.warning("re-enqueue of a job outside its run ignored", job_id=job_id)
            return message
        exc = getattr(message, "_exception", None)
        run.retried = self.ctx.registry.run(
            transitions.retry_later(
                job_id,
                run.queue,
                run.gen,
                self.broker_id,
                int(delay or 0),
                _one_line(exc),
                str(message.options.get("traceback", "")),
            )
        )
        if run.retried:
            self.ctx.metrics.transitions.labels(run.queue, "delayed").inc()
        return message

    def _submit(self, message: Message[Any], delay: int | None) -> None:
        """A plain ``actor.send()``: becomes a facequeue job like any submission."""
        if message.kwargs:
            raise FacequeueError("facequeue jobs take positional arguments only")
        retries = message.options.get("max_retries")
        _, call = submit_call(
            message.actor_name,
            list(message.args),
            settings=self.ctx.settings,
            queue=message.queue_name,
            delay_ms=int(delay or 0),
            max_retries=None if retries is None else int(retries),
        )
        self.ctx.registry.run(call)


class FacequeueConsumer(_RedisConsumer):
    """Runs the dispatch script before it fetches; fetches nothing while paused."""

    broker: FacequeueBroker

    def __init__(self, broker: FacequeueBroker, queue_name: str, prefetch: int, timeout: int) -> None:
        # The idle wait is facequeue's own (woken by submissions), not Dramatiq's worker timeout.
        super().__init__(broker, queue_name, prefetch, broker.ctx.settings.worker_idle_poll_ms)
        broker.consumers.add(self)

    def held_message_ids(self) -> set[str]:
        """Job ids of the messages this consumer holds: prefetched, or handed to a worker thread."""
        for _ in range(3):  # the consumer thread may change them while they are copied
            try:
                cached = [Message.decode(data).message_id for data in list(self.message_cache) if data]
                return set(self.queued_message_ids) | set(cached)
            except RuntimeError:
                continue
        return set(self.queued_message_ids)

    def __next__(self) -> Any:
        if self.message_cache:
            return super().__next__()
        want = self.prefetch - self.outstanding_message_count
        if want <= 0:  # every prefetched message is still being worked on
            self.misses, backoff_ms = compute_backoff(self.misses, max_backoff=self.timeout)
            time.sleep(backoff_ms / 1000)
            return None
        if self._dispatch(want):
            time.sleep(self.timeout / 1000)
            return None
        try:
            self.message_cache = self.broker.do_fetch(self.queue_name, want)
            if not self.message_cache:
                # Idle: block until a submission's wake token (or the poll interval) instead of
                # sleeping the interval out, so a job on an idle queue starts at once.
                self.broker.client.blpop([keys.wake_key(self.queue_name)], self.timeout / 1000)
                return None
        except redis.ConnectionError as exc:
            raise dramatiq.errors.ConnectionClosed(exc) from None
        self.misses = 0
        return super().__next__()

    def _dispatch(self, want: int) -> bool:
        """Top Dramatiq's list up; True when the queue is paused."""
        try:
            released, sent, paused = self.broker.ctx.registry.run(transitions.dispatch(self.queue_name, want))
        except FacequeueError as exc:
            # Same contract as Dramatiq's own fetch: the consumer thread restarts.
            raise dramatiq.errors.ConnectionClosed(exc) from exc
        metrics = self.broker.ctx.metrics
        if released:
            metrics.released.labels(self.queue_name).inc(released)
        if sent:
            metrics.dispatched.labels(self.queue_name).inc(sent)
        return paused

    def ack(self, message: Any) -> None:
        """Ack a successful run's copy in the script that records its completion; others as Dramatiq does.

        One round trip instead of two per job (issue 9), and no crash can fall between
        the ack and the outcome. JobStateMiddleware.after_ack reads ``run.completed``.
        """
        ctx = self.broker.ctx
        run = ctx.runs.current()
        # Dramatiq acks on the consumer's queue: the script can only when that is the job's.
        if run is None or not run.succeeded(message) or run.queue != self.queue_name:
            super().ack(message)
            return
        call = transitions.complete(
            run.job_id,
            run.queue,
            run.gen,
            ctx.worker_id,
            run.result_json(),
            ctx.settings,
            message_id=message.options["redis_message_id"],
        )
        try:
            run.completed = ctx.registry.run(call)
        except RedisUnavailable as exc:
            # Dramatiq retries the ack (and so the completion) until Redis answers.
            raise dramatiq.errors.ConnectionClosed(exc) from exc
        except FacequeueError:
            # after_ack records the outcome on its own, as for any run not completed here.
            log.exception("could not complete the job with its ack", job_id=run.job_id)
            super().ack(message)
        finally:
            self.queued_message_ids.discard(message.message_id)

    def nack(self, message: Any) -> None:
        """Drop the copy instead of dead-lettering it: the registry keeps the failed job."""
        self.ack(message)


def _one_line(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    text = f"{type(exc).__name__}: {exc}"
    return text.splitlines()[0][:1000] if text else type(exc).__name__
