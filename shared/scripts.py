"""The Lua scripts behind every state transition, loaded through redis-py ``Script``.

``Script`` runs EVALSHA and reloads the source on NOSCRIPT, so a Redis restart
(which empties the script cache) costs one extra round trip, never an error; so does
a Sentinel failover, whose new primary never ran our EVALSHAs (a replica applies a
script's effects, not the script).

With ``FQ_REDIS_MIN_REPLICAS_ACK`` > 0 the scripts in :data:`DURABLE` are sent in one
pipeline with ``WAIT n timeout`` behind them: WAIT counts the replicas that have the
writes of *its own connection*, so it must ride on the script's connection (issue 17).
"""

from __future__ import annotations

import contextlib
import enum
import string
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Generic, TypeVar

import redis
import redis.asyncio
from redis.commands.core import AsyncScript, Script

from shared import errors, keys
from shared.events import ENVELOPE
from shared.logging import get_logger
from shared.states import PRIORITY_SCALE

log = get_logger(__name__)

T = TypeVar("T")


class Lua(enum.StrEnum):
    """One member per ``shared/lua/<name>.lua`` file."""

    JOB_SUBMIT = "job_submit"
    JOBS_DISPATCH = "jobs_dispatch"
    JOB_START = "job_start"
    JOB_COMPLETE = "job_complete"
    JOB_FAIL = "job_fail"
    JOB_RETRY_LATER = "job_retry_later"
    JOB_UNKNOWN_ACTOR = "job_unknown_actor"
    JOB_ORPHANED = "job_orphaned"
    IMAGE_STORE = "image_store"
    JOB_RETRY = "job_retry"
    JOB_PROMOTE = "job_promote"
    JOB_SET_PRIORITY = "job_set_priority"
    JOB_DELETE = "job_delete"
    TRASH_RESTORE = "trash_restore"
    JOB_PROGRESS = "job_progress"
    QUEUE_TRIM = "queue_trim"
    QUEUE_RETENTION = "queue_retention"
    QUEUE_PAUSE = "queue_pause"
    QUEUE_RESUME = "queue_resume"
    QUEUE_LIMITS = "queue_limits"
    SCHEDULE_SAVE = "schedule_save"
    SCHEDULE_DELETE = "schedule_delete"
    SCHEDULE_FIRE = "schedule_fire"
    SCHEDULE_ERROR = "schedule_error"
    WORKER_BEAT = "worker_beat"
    WORKERS_REAP = "workers_reap"
    WORKER_REMOVE = "worker_remove"
    WORKERS_PUBLISH = "workers_publish"
    QUEUE_HEALTH = "queue_health"
    JOBS_LIST = "jobs_list"
    JOBS_SEARCH = "jobs_search"
    JOBS_FIND = "jobs_find"
    SEARCH_SWEEP = "search_sweep"
    HISTORY_POINT = "history_point"
    SNAPSHOT_COUNTS = "snapshot_counts"
    GALLERY_ENROLL = "gallery_enroll"
    GALLERY_FORGET = "gallery_forget"
    GALLERY_DROP = "gallery_drop"
    GALLERY_RENAME = "gallery_rename"
    SESSION_CREATE = "session_create"
    SESSION_END = "session_end"
    SESSIONS_END = "sessions_end"
    SESSIONS_END_PERSON = "sessions_end_person"
    APIKEY_CREATE = "apikey_create"
    APIKEY_REVOKE = "apikey_revoke"
    APIKEY_TOUCH = "apikey_touch"
    OP_CREATE = "op_create"
    OP_LEASE = "op_lease"
    OP_BATCH = "op_batch"
    OP_CANCEL = "op_cancel"
    TRASH_PURGE = "trash_purge"
    OPS_FORGET = "ops_forget"


def _read(name: str) -> str:
    return resources.files("shared").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


def _lua_string(text: str) -> str:
    """A Lua string literal of ``text``."""
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return f"'{escaped}'"


def lua_key_function(name: str, template: str) -> str:
    """The Lua function ``name`` filling in a :data:`keys.SCRIPT_KEYS` template: its holes are its
    parameters, in order (``fq:failures:{queue}:{fingerprint}`` gives
    ``local function name(queue, fingerprint) return 'fq:failures:' .. queue .. ':' .. fingerprint end``).
    """
    params: list[str] = []
    parts: list[str] = []
    for literal, field, spec, conversion in string.Formatter().parse(template):
        if literal:
            parts.append(_lua_string(literal))
        if field is None:
            continue
        if spec or conversion or not field.isidentifier() or field in params:
            raise ValueError(f"{name}: {template!r} must have plain, distinct {{name}} holes")
        params.append(field)
        parts.append(field)
    return f"local function {name}({', '.join(params)}) return {' .. '.join(parts)} end"


def prelude() -> str:
    """The prelude every script runs behind: shared/lua/_prelude.lua with the constants of
    shared/states.py, shared/keys.py and shared/events.py, and the key functions made from
    :data:`keys.SCRIPT_KEYS`, filled in."""
    functions = "\n".join(lua_key_function(name, template) for name, template in keys.SCRIPT_KEYS.items())
    return (
        _read("_prelude")
        .replace("__PRIORITY_SCALE__", str(PRIORITY_SCALE))
        .replace("__GALLERY_CHANGED_CHANNEL__", keys.GALLERY_CHANGED_CHANNEL)
        .replace("__EVENT_ENVELOPE__", ENVELOPE)
        .replace("-- __KEY_FUNCTIONS__", functions)
    )


def load_source(script: Lua) -> str:
    """The full text Redis runs: the shared prelude, then the script."""
    return prelude() + "\n" + _read(script.value)


#: Script time (µs) after which a script that walks many items (an operation's batch, the chart
#: history catching up) stops and leaves the rest to its next call: well under issue 20's 10 ms
#: for any command, whatever the items turn out to cost (large records to free, a busy machine).
#: Read at each call, so a test may lower it.
SCRIPT_BUDGET_US = 4_000

#: Scripts whose change is acknowledged to someone (the API's submissions and admin actions) or
#: ends a job: with ``FQ_REDIS_MIN_REPLICAS_ACK`` > 0 they are followed by ``WAIT`` (issue 17).
DURABLE = frozenset(
    {
        Lua.JOB_SUBMIT,
        Lua.JOB_COMPLETE,
        Lua.JOB_FAIL,
        Lua.JOB_UNKNOWN_ACTOR,
        Lua.JOB_RETRY,
        Lua.JOB_PROMOTE,
        Lua.JOB_SET_PRIORITY,
        Lua.JOB_DELETE,
        Lua.TRASH_RESTORE,
        Lua.QUEUE_RETENTION,
        Lua.QUEUE_PAUSE,
        Lua.QUEUE_RESUME,
        Lua.QUEUE_LIMITS,
        Lua.SCHEDULE_SAVE,
        Lua.SCHEDULE_DELETE,
        Lua.SCHEDULE_FIRE,
        Lua.GALLERY_RENAME,
        Lua.WORKER_REMOVE,
        Lua.WORKERS_REAP,  # may fail a job its dead workers lost too often (worker_lost)
    }
)


@dataclass(frozen=True, slots=True)
class Durability:
    """How many replicas must hold a :data:`DURABLE` change, and what a shortfall does.

    A shortfall of a script in ``strict`` raises :class:`errors.NotReplicated` (the API's
    submissions: 503 with Retry-After); of any other it is counted and logged, since the
    change was made and its caller can do nothing better than go on.
    """

    replicas: int = 0
    timeout_ms: int = 1000
    strict: frozenset[Lua] = frozenset()
    #: Called with the script's name when WAIT timed out (a metric).
    on_shortfall: Callable[[str], None] | None = None

    def check(self, script: Lua, acked: int) -> None:
        if acked >= self.replicas:
            return
        if self.on_shortfall is not None:
            self.on_shortfall(script.value)
        message = (
            f"{acked} of {self.replicas} replicas acknowledged {script.value} within {self.timeout_ms} ms"
        )
        if script in self.strict:
            raise errors.NotReplicated(message)
        log.warning("change not replicated in time", script=script.value, acked=acked, wanted=self.replicas)


#: Source of every script, read once at import (package data, not the environment).
SOURCES: dict[Lua, str] = {script: load_source(script) for script in Lua}


#: Error classes by the code a script raises ("FQ <code> <message>").
def _error_classes(base: type[errors.FacequeueError]) -> list[type[errors.FacequeueError]]:
    return [c for sub in base.__subclasses__() for c in (sub, *_error_classes(sub))]


_ERRORS: dict[str, type[errors.FacequeueError]] = {
    cls.code: cls for cls in _error_classes(errors.FacequeueError)
}


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One script invocation, built without I/O so sync and async callers share it."""

    script: Lua
    keys: Sequence[str]
    args: Sequence[str | bytes | int | float]
    parse: Callable[[Any], T]


def translate(exc: redis.ResponseError) -> errors.FacequeueError | redis.ResponseError:
    """Turn a script's ``FQ <code> <message>`` error into its typed error, and Redis's refusal
    of a write past maxmemory (redis-py's OutOfMemoryError) into RedisFull. Redis refuses only
    a script's first write when it starts out of memory, so a refused script changed nothing."""
    text = str(exc)
    if isinstance(exc, redis.exceptions.OutOfMemoryError):
        return errors.RedisFull(f"Redis is full: {text}")
    if text.startswith("FQ "):
        _, code, message = [*text.split(" ", 2), ""][:3]
        cls = _ERRORS.get(code)
        if cls is errors.InvalidTransition:
            return errors.InvalidTransition(message, state=message.split(" ", 1)[0])
        if cls is not None:
            return cls(message)
    return exc


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Redis errors as facequeue's: a script's ``FQ`` error as its class, a lost connection as
    RedisUnavailable (for sync and async callers alike: the context spans the ``await``)."""
    try:
        yield
    except redis.ResponseError as exc:
        raise translate(exc) from exc
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise errors.RedisUnavailable(str(exc)) from exc


class _Bound:
    """Scripts registered on one client, plus the prelude's fixed slots."""

    def __init__(self, scripts: dict[Lua, Any], events_maxlen: int, durability: Durability | None) -> None:
        self._scripts = scripts
        self._head_keys = [keys.EVENTS_STREAM, keys.EVENTS_SEQ]
        # ARGV[3] is unused (it carried the job key prefix before the prelude's job_key()); kept
        # empty so every script's own arguments still start at ARGV[4].
        self._head_args: list[str | int | float] = [keys.UPDATES_CHANNEL, events_maxlen, ""]
        self.durability = durability or Durability()

    def _invoke(self, call: Call[Any], client: Any = None) -> Any:
        script = self._scripts[call.script]
        return script(keys=[*self._head_keys, *call.keys], args=[*self._head_args, *call.args], client=client)

    def _waits(self, call: Call[Any]) -> bool:
        return self.durability.replicas > 0 and call.script in DURABLE

    def _settle(self, call: Call[Any], replies: list[Any]) -> Any:
        """The script's reply from a ``[script, WAIT]`` pipeline (a refused script changed nothing)."""
        raw, acked = replies
        if isinstance(raw, Exception):
            raise raw
        self.durability.check(call.script, int(acked))
        return raw


class Scripts(_Bound):
    """Every script on a synchronous client (worker threads, CLI)."""

    def __init__(self, client: redis.Redis, events_maxlen: int, durability: Durability | None = None) -> None:
        scripts: dict[Lua, Script] = {s: client.register_script(src) for s, src in SOURCES.items()}
        super().__init__(dict(scripts), events_maxlen, durability)
        self.client = client

    def run(self, call: Call[T]) -> T:
        with translated():
            raw = self._invoke_durably(call) if self._waits(call) else self._invoke(call)
        return call.parse(raw)

    def run_many(self, calls: Sequence[Call[Any]]) -> list[Any]:
        """Many calls in one round trip, each atomic on its own; their parsed replies in order.

        For loading many jobs (benchmarks, scale tests, imports): one script call per round trip
        spends most of its time waiting on the network. The first refused call raises, after
        the others ran; a durable pipeline ends with one ``WAIT``, checked like ``run``'s.
        """
        pipe = self.client.pipeline(transaction=False)
        for call in calls:
            self._invoke(call, pipe)
        durable = any(self._waits(call) for call in calls)
        if durable:
            pipe.execute_command("WAIT", self.durability.replicas, self.durability.timeout_ms)  # type: ignore[no-untyped-call]
        with translated():
            replies = pipe.execute(raise_on_error=False)
        acked = replies.pop() if durable else None
        out = []
        for call, raw in zip(calls, replies, strict=True):
            if isinstance(raw, Exception):
                raise translate(raw) if isinstance(raw, redis.ResponseError) else raw
            out.append(call.parse(raw))
        if acked is not None:
            self.durability.check(next(c.script for c in calls if self._waits(c)), int(acked))
        return out

    def _invoke_durably(self, call: Call[Any]) -> Any:
        """The script then WAIT in one pipeline, sent twice at most.

        redis-py's pipeline checks SCRIPT EXISTS (loading what is missing) just before its
        EVALSHA; a Sentinel failover between the two sends the EVALSHA to a new primary without
        the script. NOSCRIPT means nothing ran, so once more (which loads the scripts there)
        cannot apply a transition twice (seen as a 500 on a submission in test_failover).
        """
        try:
            return self._durable_pipeline(call)
        except redis.exceptions.NoScriptError:
            return self._durable_pipeline(call)

    def _durable_pipeline(self, call: Call[Any]) -> Any:
        pipe = self.client.pipeline(transaction=False)
        self._invoke(call, pipe)
        pipe.execute_command("WAIT", self.durability.replicas, self.durability.timeout_ms)  # type: ignore[no-untyped-call]
        return self._settle(call, pipe.execute(raise_on_error=False))


class AsyncScripts(_Bound):
    """Every script on an asyncio client (api, stream, monitor)."""

    def __init__(
        self, client: redis.asyncio.Redis, events_maxlen: int, durability: Durability | None = None
    ) -> None:
        scripts: dict[Lua, AsyncScript] = {s: client.register_script(src) for s, src in SOURCES.items()}
        super().__init__(dict(scripts), events_maxlen, durability)
        self.client = client

    async def run(self, call: Call[T]) -> T:
        with translated():
            if self._waits(call):
                raw = await self._invoke_durably(call)
            else:
                pending: Awaitable[Any] = self._invoke(call)
                raw = await pending
        return call.parse(raw)

    async def _invoke_durably(self, call: Call[Any]) -> Any:
        """As ``Scripts._invoke_durably``: a NOSCRIPT after a failover is sent once more."""
        try:
            return await self._durable_pipeline(call)
        except redis.exceptions.NoScriptError:
            return await self._durable_pipeline(call)

    async def _durable_pipeline(self, call: Call[Any]) -> Any:
        pipe = self.client.pipeline(transaction=False)
        pending: Awaitable[Any] = self._invoke(call, pipe)
        await pending
        pipe.execute_command("WAIT", self.durability.replicas, self.durability.timeout_ms)
        return self._settle(call, await pipe.execute(raise_on_error=False))


def as_int(raw: Any) -> int:
    """A script's integer reply."""
    return int(raw)


def as_text(raw: Any) -> str:
    """A script's string reply."""
    return str(raw)


def as_bool(raw: Any) -> bool:
    """A script's 0/1 reply."""
    return bool(int(raw))
