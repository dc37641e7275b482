"""The Lua scripts behind every state transition, loaded through redis-py ``Script``.

``Script`` runs EVALSHA and reloads the source on NOSCRIPT, so a Redis restart
(which empties the script cache) costs one extra round trip, never an error.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Generic, TypeVar

import redis
import redis.asyncio
from redis.commands.core import AsyncScript, Script

from shared import errors, keys
from shared.states import PRIORITY_SCALE

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
    JOB_PROGRESS = "job_progress"
    QUEUE_CLEAN = "queue_clean"
    QUEUE_TRIM = "queue_trim"
    QUEUE_RETENTION = "queue_retention"
    QUEUE_PAUSE = "queue_pause"
    QUEUE_RESUME = "queue_resume"
    WORKER_BEAT = "worker_beat"
    WORKERS_REAP = "workers_reap"
    WORKER_REMOVE = "worker_remove"
    WORKERS_PUBLISH = "workers_publish"
    QUEUE_HEALTH = "queue_health"
    JOBS_LIST = "jobs_list"
    JOBS_SEARCH = "jobs_search"
    SNAPSHOT_COUNTS = "snapshot_counts"
    GALLERY_ENROLL = "gallery_enroll"
    GALLERY_FORGET = "gallery_forget"
    GALLERY_DROP = "gallery_drop"
    SESSION_CREATE = "session_create"
    SESSIONS_END = "sessions_end"


def _read(name: str) -> str:
    return resources.files("shared").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


def load_source(script: Lua) -> str:
    """The full text Redis runs: the shared prelude, then the script."""
    prelude = (
        _read("_prelude")
        .replace("__PRIORITY_SCALE__", str(PRIORITY_SCALE))
        .replace("__GALLERY_CHANGED_CHANNEL__", keys.GALLERY_CHANGED_CHANNEL)
    )
    return prelude + "\n" + _read(script.value)


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


class _Bound:
    """Scripts registered on one client, plus the prelude's fixed slots."""

    def __init__(self, scripts: dict[Lua, Any], events_maxlen: int) -> None:
        self._scripts = scripts
        self._head_keys = [keys.EVENTS_STREAM, keys.EVENTS_SEQ]
        self._head_args: list[str | int | float] = [keys.UPDATES_CHANNEL, events_maxlen, keys.JOB_PREFIX]

    def _invoke(self, call: Call[Any]) -> Any:
        script = self._scripts[call.script]
        return script(keys=[*self._head_keys, *call.keys], args=[*self._head_args, *call.args])


class Scripts(_Bound):
    """Every script on a synchronous client (worker threads, CLI)."""

    def __init__(self, client: redis.Redis, events_maxlen: int) -> None:
        scripts: dict[Lua, Script] = {s: client.register_script(src) for s, src in SOURCES.items()}
        super().__init__(dict(scripts), events_maxlen)

    def run(self, call: Call[T]) -> T:
        try:
            raw = self._invoke(call)
        except redis.ResponseError as exc:
            raise translate(exc) from exc
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise errors.RedisUnavailable(str(exc)) from exc
        return call.parse(raw)


class AsyncScripts(_Bound):
    """Every script on an asyncio client (api, stream, monitor)."""

    def __init__(self, client: redis.asyncio.Redis, events_maxlen: int) -> None:
        scripts: dict[Lua, AsyncScript] = {s: client.register_script(src) for s, src in SOURCES.items()}
        super().__init__(dict(scripts), events_maxlen)

    async def run(self, call: Call[T]) -> T:
        try:
            pending: Awaitable[Any] = self._invoke(call)
            raw = await pending
        except redis.ResponseError as exc:
            raise translate(exc) from exc
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise errors.RedisUnavailable(str(exc)) from exc
        return call.parse(raw)
