"""facequeue's Dramatiq broker: Dramatiq executes, facequeue owns the job state.

A drop-in for ``dramatiq.brokers.redis.RedisBroker``: an app switches by changing
its broker line to ``FacequeueBroker(url=...)`` (README, "Use facequeue with your
Dramatiq app"). The subclass changes what happens between ``send()`` and a worker
(DESIGN.md, "Flow of a job" and "Dramatiq's contract"):
  * every ``enqueue`` goes to facequeue's registry with the whole message (options,
    keyword arguments, id, timestamp): a plain ``send()`` becomes a job whose id is
    the message id, a delay becomes the ``delayed`` state, and Dramatiq's Retries
    re-enqueue becomes ``active -> delayed`` with the options as the middleware left
    them; the enqueue hooks fire for each, as on RedisBroker;
  * the consumer fetches through the dispatch script, which releases due delayed
    jobs, tops the list up from the priority-ordered waiting set (handing Dramatiq
    the stored message back) and then fetches as Dramatiq's own fetch does, in one
    round trip; a paused queue fetches nothing;
  * Dramatiq's maintenance and dead-letter set are off: the registry keeps failed
    jobs and the reaper recovers dead workers at once;
  * ``join``, ``flush`` and ``do_qsize`` count and drop facequeue's jobs.
"""

from __future__ import annotations

import dataclasses
import time
import weakref
from collections.abc import Iterable
from typing import Any

import dramatiq
import redis
import redis.sentinel
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.common import compute_backoff
from dramatiq.errors import ActorNotFound
from dramatiq.message import Message
from dramatiq.middleware import Middleware, MiddlewareError, Retries, default_middleware

from services.worker import outcomes
from services.worker.context import WorkerContext
from services.worker.middleware.heartbeat import WorkerHeartbeat
from services.worker.middleware.job_state import JobStateMiddleware
from services.worker.middleware.limit_wake import LimitWake
from services.worker.middleware.schedules import SchedulePublisher
from shared import actions, keys, redis_clients, transitions
from shared.config import Settings
from shared.errors import FacequeueError, JobExists
from shared.logging import get_logger
from shared.messages import JOB_OPTION, template_of
from shared.names import NAME_RULE, is_valid_name
from shared.registry import Registry
from shared.states import DEFAULT_PRIORITY, JobState
from shared.submit import MAX_DELAY_MS, check_int

log = get_logger(__name__)

#: Dramatiq's key namespace; facequeue's scripts name Dramatiq's keys with it (shared/keys.py).
NAMESPACE = "dramatiq"
#: Retries shown on a job whose actor allows unlimited ones (``max_retries=None``).
UNLIMITED_RETRIES = -1


class FacequeueBroker(RedisBroker):
    """RedisBroker whose queue contents are decided by facequeue's registry.

    Takes RedisBroker's arguments (``url``, ``middleware``, ``client`` and Redis
    connection parameters, ``heartbeat_timeout``, ``dead_message_ttl``), plus
    ``settings`` (default: the ``FQ_*`` environment) and ``context`` (built when
    omitted). ``middleware`` defaults to Dramatiq's default middleware, as on
    RedisBroker; facequeue's job-state middleware always runs first.
    """

    def __init__(
        self,
        *,
        url: str | None = None,
        middleware: Iterable[Middleware] | None = None,
        namespace: str = NAMESPACE,
        settings: Settings | None = None,
        context: WorkerContext | None = None,
        **options: Any,
    ) -> None:
        if namespace != NAMESPACE:
            raise ValueError(f"FacequeueBroker keeps Dramatiq's keys under {NAMESPACE!r}, not {namespace!r}")
        # Dramatiq would requeue a dead worker's messages only after 60 s and by chance;
        # workers_reap.lua does it at once.
        options["maintenance_chance"] = 0
        settings = context.settings if context is not None else (settings or Settings.from_env())
        from_settings = False
        if url is not None:
            settings = dataclasses.replace(settings, redis_url=url)
        elif "client" not in options and not _connection_parameters(options):
            # FQ_REDIS_URL or FQ_REDIS_SENTINELS through the one factory, whose client follows a
            # failover and has timeouts and keepalive (issue 17).
            options["client"] = redis_clients.sync_client(settings, decode=False)
            from_settings = True
        self._hooks: dict[str, list[Middleware]] = {}
        self._retries: Retries | None = None
        super().__init__(url=url, middleware=[], **options)
        if context is None:
            own = url is not None or from_settings  # the registry builds its client from settings
            registry = None if own else Registry(settings, _decoding_client(self.client))
            context = WorkerContext.create(settings, registry=registry)
        self.ctx = context
        #: Dramatiq names its ack sets after the broker id; making it the
        #: facequeue worker id lets the reaper find a dead worker's messages.
        self.broker_id = context.worker_id
        #: Every consumer alive in this process (Dramatiq replaces one after a connection error).
        self.consumers: weakref.WeakSet[FacequeueConsumer] = weakref.WeakSet()
        chosen = [m() for m in default_middleware] if middleware is None else list(middleware)
        # Job state first, so no other middleware can skip a job before it is marked active
        # (and, as after-hooks run in reverse, it records the outcome after all the others).
        # Schedules before the heartbeat: a worker seen registered has published its declarations.
        # LimitWake has after-hooks only: listed first, they run after the outcome is recorded.
        ours = [
            LimitWake(),
            JobStateMiddleware(context),
            SchedulePublisher(context),
            WorkerHeartbeat(context),
        ]
        for m in [*ours, *chosen]:
            self.add_middleware(m)

    def add_middleware(self, middleware: Middleware, **options: Any) -> None:
        super().add_middleware(middleware, **options)
        self._hooks = {}  # recomputed for the new list
        self._retries = next((m for m in self.middleware if isinstance(m, Retries)), None)

    def _hooked(self, hook: str) -> list[Middleware]:
        """The middleware, in order, whose ``hook`` is not Middleware's no-op.

        Dramatiq calls every middleware's hook for each of a message's four signals
        (about fifty calls a job with facequeue's middleware, most of them no-ops, issue 25).
        A hook the base class lacks (a custom signal) keeps every middleware, so a missing
        one is logged as Dramatiq's own loop would.
        """
        found = self._hooks.get(hook)
        if found is None:
            default = getattr(Middleware, hook, None)
            found = [
                m
                for m in self.middleware
                if default is None or hook in vars(m) or getattr(type(m), hook, None) is not default
            ]
            self._hooks[hook] = found
        return found

    def emit_before(self, signal: str, *args: Any, **kwargs: Any) -> None:
        """Broker.emit_before over the middleware that define the hook (same order and errors)."""
        signal = "before_" + signal
        for middleware in self._hooked(signal):
            try:
                getattr(middleware, signal)(self, *args, **kwargs)
            except MiddlewareError:
                raise
            except Exception:
                self.logger.critical("Unexpected failure in %s of %r.", signal, middleware, exc_info=True)

    def emit_after(self, signal: str, *args: Any, **kwargs: Any) -> None:
        """Broker.emit_after over the middleware that define the hook (same order: reversed)."""
        signal = "after_" + signal
        for middleware in reversed(self._hooked(signal)):
            try:
                getattr(middleware, signal)(self, *args, **kwargs)
            except Exception:
                self.logger.critical("Unexpected failure in %s of %r.", signal, middleware, exc_info=True)

    def close(self) -> None:
        """Release the broker's and the registry's connections (RedisBroker keeps its open)."""
        self.client.close()
        self.ctx.registry.close()

    @property
    def consumer_class(self) -> type[FacequeueConsumer]:
        return FacequeueConsumer

    def declare_queue(self, queue_name: str) -> None:
        """Declare the queue but no Dramatiq delay queue: delays live in facequeue.

        Raises ValueError for a name facequeue cannot hold: Dramatiq allows ``.``, but a
        queue name is part of facequeue's keys and URLs (shared/names.py).
        """
        if not is_valid_name(queue_name):
            raise ValueError(f"queue {queue_name!r}: facequeue queue names are {NAME_RULE}")
        if queue_name not in self.queues:
            self.emit_before("declare_queue", queue_name)
            self.queues.add(queue_name)
            self.emit_after("declare_queue", queue_name)

    def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        """Record the message as a job (or, from its own run, as the job's retry); returns it.

        The returned message's ``message_id`` is the job id. Raises TypeError for an
        argument or option JSON cannot hold, as RedisBroker's JSON encoder does.
        """
        self.emit_before("enqueue", message, delay)
        run = self.ctx.runs.current()
        if run is not None and message.options.get(JOB_OPTION) == run.job_id:
            outcomes.record_retry(self.ctx, run, message, delay)
        else:
            self._submit(message, delay)
        self.emit_after("enqueue", message, delay)
        return message

    def _submit(self, message: Message[Any], delay: int | None) -> None:
        """A ``send()``: a new job whose id is the message id (so pipelines and results find it)."""
        delay_ms = int(delay or 0)
        check_int("delay", delay_ms, 0, MAX_DELAY_MS)
        call = transitions.submit(
            job_id=message.message_id,
            queue=message.queue_name,
            actor=message.actor_name,
            args=message.args,
            priority=DEFAULT_PRIORITY,
            max_retries=self.max_retries_for(message),
            delay_ms=delay_ms,
            template=template_of(message),
        )
        try:
            self.ctx.registry.run(call)
        except JobExists:
            # The same message sent twice (a replayed callback): one job, as one message id.
            log.info("message already enqueued", job_id=message.message_id)

    def max_retries_for(self, message: Message[Any]) -> int:
        """The retries Dramatiq's Retries grants this message: its option, its actor's, the middleware's."""
        retries = self._retries
        if retries is None:
            return 0
        try:
            actor_options = self.get_actor(message.actor_name).options
        except ActorNotFound:
            actor_options = {}
        value = message.options.get("max_retries", actor_options.get("max_retries", retries.max_retries))
        return UNLIMITED_RETRIES if value is None else int(value)

    def do_qsize(self, queue_name: str) -> int:
        """Jobs of the queue not finished yet: waiting (dispatched included), delayed and active."""
        pipe = self.ctx.registry.client.pipeline(transaction=False)
        for state in (JobState.WAITING, JobState.DELAYED, JobState.ACTIVE):
            pipe.zcard(keys.state_key(queue_name, state))
        return sum(int(n) for n in pipe.execute())

    def flush(self, queue_name: str) -> None:
        """Drop the queue's waiting and delayed jobs (and Dramatiq's copies); running ones finish."""
        for state in (JobState.WAITING, JobState.DELAYED):
            while self.ctx.registry.run(actions.bulk(actions.BulkVerb.DELETE, queue_name, source=state)).done:
                pass
        self.do_purge(queue_name)


def _connection_parameters(options: dict[str, Any]) -> bool:
    """Whether RedisBroker's options name a Redis connection (``host=``, ``connection_pool=`` ...)."""
    return bool(set(options) - {"maintenance_chance", "heartbeat_timeout", "dead_message_ttl"})


def _decoding_client(client: redis.Redis) -> redis.Redis:
    """A client of the same server as ``client`` that decodes replies, as the registry reads them."""
    pool = client.connection_pool
    kwargs = {**pool.connection_kwargs, "decode_responses": True}
    if isinstance(pool, redis.sentinel.SentinelConnectionPool):  # Sentinel.master_for(...)
        kwargs.pop("connection_pool", None)
        return pool.sentinel_manager.master_for(pool.service_name, **kwargs)  # type: ignore[no-any-return]
    return redis.Redis(connection_pool=pool.__class__(connection_class=pool.connection_class, **kwargs))


class FacequeueConsumer(_RedisConsumer):
    """Fetches through the dispatch script, which tops Dramatiq's list up first; fetches nothing
    while paused."""

    broker: FacequeueBroker

    def __init__(self, broker: FacequeueBroker, queue_name: str, prefetch: int, timeout: int) -> None:
        # The idle wait is facequeue's own (woken by submissions), not Dramatiq's worker timeout.
        super().__init__(broker, queue_name, prefetch, broker.ctx.settings.worker_idle_poll_ms)
        #: Whether the last dispatch held a job back for the queue's limits (LimitWake reads it).
        self.limited = False
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
        out = self._dispatch(want)
        if out.paused:
            time.sleep(self.timeout / 1000)
            return None
        if not out.messages:
            try:
                # Idle: block until a submission's wake token (or the poll interval) instead of
                # sleeping the interval out, so a job on an idle queue starts at once.
                self.broker.client.blpop([keys.wake_key(self.queue_name)], self.timeout / 1000)
            except redis.ConnectionError as exc:
                raise dramatiq.errors.ConnectionClosed(exc) from None
            return None
        self.message_cache = list(out.messages)
        self.misses = 0
        return super().__next__()

    def _dispatch(self, want: int) -> transitions.Dispatched:
        """Top Dramatiq's list up and fetch up to ``want`` messages, in one script."""
        try:
            out = self.broker.ctx.registry.run(
                transitions.dispatch(self.queue_name, want, fetch=want, worker=self.broker.broker_id)
            )
        except FacequeueError as exc:
            # Same contract as Dramatiq's own fetch: the consumer thread restarts.
            raise dramatiq.errors.ConnectionClosed(exc) from exc
        self.limited = out.limited
        metrics = self.broker.ctx.metrics
        if out.released:
            metrics.child(metrics.released, self.queue_name).inc(out.released)
        if out.sent:
            metrics.child(metrics.dispatched, self.queue_name).inc(out.sent)
        return out

    def ack(self, message: Any) -> None:
        """Ack a successful run's copy with its completion (services/worker/outcomes.py, path 2);
        others as Dramatiq does."""
        ctx = self.broker.ctx
        run = ctx.runs.current()
        # Dramatiq acks on the consumer's queue: the script can only when that is the job's.
        try:
            if (
                run is None
                or not run.succeeded(message)
                or run.queue != self.queue_name
                or not outcomes.complete_at_ack(ctx, run, message)
            ):
                super().ack(message)
        finally:
            self.queued_message_ids.discard(message.message_id)

    def nack(self, message: Any) -> None:
        """Drop the copy instead of dead-lettering it: the registry keeps the failed job.

        A copy rejected because this worker does not define its actor is offered again
        later, and fails once no worker has defined it for the grace period.
        """
        if isinstance(getattr(message, "_exception", None), ActorNotFound):
            outcomes.record_unknown_actor(self.broker.ctx, message)
        self.ack(message)
