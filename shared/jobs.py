"""The job record as read from its Redis hash, and its human-pasteable id."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from shared.messages import decode_template, visible_options
from shared.states import JobState

#: Crockford's base32: no I, L, O or U, so ids survive being read aloud or retyped.
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


_last = [0, 0]
_lock = threading.Lock()


def new_job_id() -> str:
    """A 16-character id: 48 bits of ms time then 32 random bits, so ids sort by age.

    Within one millisecond the random part counts up (as ULIDs do), so jobs a
    producer submits at the same priority keep their order in the waiting set,
    where equal scores are ordered by id.
    """
    now_ms = int(time.time() * 1000)
    with _lock:
        if now_ms <= _last[0]:
            now_ms, low = _last[0], (_last[1] + 1) & 0xFFFFFFFF
        else:
            low = int.from_bytes(os.urandom(4), "big") >> 1  # half range leaves room to count up
        _last[:] = [now_ms, low]
    value = (now_ms << 32) | low
    chars = []
    for _ in range(16):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def _opt_int(raw: str | None) -> int | None:
    return int(raw) if raw else None


@dataclass(frozen=True, slots=True)
class Job:
    """One job as facequeue's registry holds it (Dramatiq's copy is internal)."""

    id: str
    queue: str
    actor: str
    state: JobState
    priority: int
    args: list[Any]
    #: Keyword arguments of the actor call (jobs sent from Dramatiq code may have them).
    kwargs: dict[str, Any]
    #: Dramatiq message options a producer or middleware set (on_success, time_limit, pipe_target, ...).
    options: dict[str, Any]
    created_ms: int
    enqueued_ms: int
    eta_ms: int | None
    started_ms: int | None
    finished_ms: int | None
    attempts: int
    #: Retries that apply (message, actor, then the workers' default, as Dramatiq's Retries decides;
    #: recorded when a run starts); -1: unlimited.
    max_retries: int
    progress: float
    stage: str
    result: Any
    error: str
    traceback: str
    worker: str
    gen: int
    #: Every transition of the job, oldest first: seq, ts, from, to and their details.
    timeline: list[dict[str, Any]]
    #: The schedule that fired the job ('' for jobs submitted otherwise; issue 21).
    schedule: str = ""

    @classmethod
    def from_hash(cls, fields: dict[str, str]) -> Job:
        """Parse a ``fq:job:<id>`` hash (decoded responses)."""
        result = fields.get("result")
        message = decode_template(fields["msg"]) if fields.get("msg") else {}
        return cls(
            id=fields["id"],
            queue=fields["queue"],
            actor=fields["actor"],
            state=JobState(fields["state"]),
            priority=int(fields["priority"]),
            args=json.loads(fields.get("args") or "[]"),
            kwargs=message.get("kwargs") or {},
            options=visible_options(message.get("options") or {}),
            created_ms=int(fields["created_ms"]),
            enqueued_ms=int(fields["enqueued_ms"]),
            eta_ms=_opt_int(fields.get("eta_ms")),
            started_ms=_opt_int(fields.get("started_ms")),
            finished_ms=_opt_int(fields.get("finished_ms")),
            attempts=int(fields.get("attempts") or 0),
            max_retries=int(fields.get("max_retries") or 0),
            progress=float(fields.get("progress") or 0),
            stage=fields.get("stage", ""),
            result=json.loads(result) if result else None,
            error=fields.get("error", ""),
            traceback=fields.get("traceback", ""),
            worker=fields.get("worker", ""),
            gen=int(fields.get("gen") or 0),
            timeline=[json.loads(line) for line in fields.get("timeline", "").splitlines() if line],
            schedule=fields.get("schedule", ""),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for APIs and logs."""
        data = asdict(self)
        data["state"] = self.state.value
        return data
