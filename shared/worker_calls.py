"""Calls of the worker registry: heartbeats, reaping a dead worker's jobs, removing a worker,
and publishing the worker list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared import keys
from shared.scripts import Call, Lua, as_int, as_text
from shared.states import JobState

#: Milliseconds a dead worker stays listed (as "dead") before it is forgotten.
DEAD_WORKER_KEEP_MS = 3_600_000


def worker_beat(worker_id: str, fields: dict[str, str | int | float]) -> Call[tuple[int, bool]]:
    """Register or refresh a worker process; returns the beat time (ms) and whether to stop."""
    flat: list[str | int | float] = [worker_id, keys.WORKERS_CHANGED_CHANNEL]
    for name, value in fields.items():
        flat += [name, value]

    def parse(raw: Any) -> tuple[int, bool]:
        return int(raw[0]), bool(raw[1])

    return Call(
        Lua.WORKER_BEAT,
        [keys.worker_key(worker_id), keys.WORKERS, keys.DRAMATIQ_HEARTBEATS, keys.WORKERS_DEAD],
        flat,
        parse,
    )


def reap_worker(
    worker_id: str, queues: Sequence[str], dead_after_ms: int, *, max_losses: int, forget: bool = False
) -> Call[int]:
    """Recover a dead (or, with ``forget``, departing) worker's jobs; -1 when it turned out alive.

    A dead worker's job fails as ``worker_lost`` once it has no retries left or its
    runs' workers died ``max_losses`` times (a poison job must not crash-loop the fleet).
    """
    per_queue: list[str] = []
    for queue in queues:
        per_queue += [
            keys.dramatiq_acks_key(worker_id, queue),
            keys.dramatiq_messages_key(queue),
            keys.state_key(queue, JobState.WAITING),
            keys.dispatched_key(queue),
            keys.state_key(queue, JobState.ACTIVE),
            keys.state_key(queue, JobState.FAILED),
        ]
    return Call(
        Lua.WORKERS_REAP,
        [keys.worker_key(worker_id), keys.WORKERS, keys.DRAMATIQ_HEARTBEATS, keys.WORKERS_DEAD, *per_queue],
        [
            worker_id,
            dead_after_ms,
            int(forget),
            DEAD_WORKER_KEEP_MS,
            keys.WORKERS_CHANGED_CHANNEL,
            max_losses,
            *queues,
        ],
        as_int,
    )


def remove_worker(worker_id: str, who: str) -> Call[str]:
    """Operator action: drain a live worker, forget a dead one (reap it first)."""
    return Call(
        Lua.WORKER_REMOVE,
        [keys.worker_key(worker_id), keys.WORKERS, keys.WORKERS_DEAD, keys.AUDIT_STREAM],
        [worker_id, who, keys.WORKERS_CHANGED_CHANNEL],
        as_text,
    )


def publish_workers(workers_json: str) -> Call[int]:
    """Emit a ``workers`` event carrying the given JSON array."""
    return Call(Lua.WORKERS_PUBLISH, [], [workers_json], as_int)
