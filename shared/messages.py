"""The Dramatiq message facequeue keeps with each job and hands to workers.

A job's record holds its Dramatiq message (``msg``) exactly as the producer
built it (arguments, keyword arguments, every option, id and timestamp), so
each middleware sees on a worker what it would see on a plain RedisBroker
(DESIGN.md, "Dramatiq's contract"). The message is stored with its ``options``
object left open: the dispatch script appends the per-dispatch options
(generation, retries so far, Dramatiq's redis message id) so Lua never has to
decode and re-encode the arguments (cjson would turn ``[]`` into ``{}``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

#: Options key holding the facequeue job id.
JOB_OPTION = "fq_job"
#: Options key holding the generation the message was dispatched under.
GEN_OPTION = "fq_gen"
#: Options each dispatch (or Dramatiq's own enqueue) sets afresh; never stored in the template.
#: ``retries`` comes from the job's attempt count; ``eta`` is Dramatiq's in-memory delay,
#: which facequeue replaces with its delayed state.
PER_DISPATCH_OPTIONS = frozenset({GEN_OPTION, "retries", "redis_message_id", "eta"})
#: Options facequeue sets for itself, hidden from the options a job shows.
INTERNAL_OPTIONS = PER_DISPATCH_OPTIONS | {JOB_OPTION, "traceback", "requeue_timestamp"}
#: Closing of the options object and the message, which the template leaves open.
_TAIL = "}}"


def message_template(
    *,
    job_id: str,
    queue: str,
    actor: str,
    args: Sequence[Any],
    kwargs: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    created_ms: int,
) -> str:
    """Encoded Dramatiq message with its ``options`` object left open at the end.

    Raises TypeError for values JSON cannot hold, as Dramatiq's JSON encoder does.
    """
    kept = {k: v for k, v in (options or {}).items() if k not in PER_DISPATCH_OPTIONS and k != JOB_OPTION}
    message = {
        "queue_name": queue,
        "actor_name": actor,
        "args": list(args),
        "kwargs": dict(kwargs or {}),
        "message_id": job_id,
        "message_timestamp": created_ms,
        # Must stay last: the dispatch script appends to it.
        "options": {JOB_OPTION: job_id, **kept},
    }
    encoded = json.dumps(message, separators=(",", ":"), allow_nan=False)
    assert encoded.endswith(_TAIL)
    return encoded[: -len(_TAIL)]


def template_of(message: Any) -> str:
    """The template of a Dramatiq message (or a worker's MessageProxy of one), its id the job id."""
    return message_template(
        job_id=message.message_id,
        queue=message.queue_name,
        actor=message.actor_name,
        args=message.args,
        kwargs=message.kwargs,
        options=message.options,
        created_ms=message.message_timestamp,
    )


def decode_template(template: str) -> dict[str, Any]:
    """The stored message as a dict (without the per-dispatch options)."""
    decoded: dict[str, Any] = json.loads(template + _TAIL)
    return decoded


def visible_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options a user or middleware set, as a job's detail shows them."""
    return {k: v for k, v in options.items() if k not in INTERNAL_OPTIONS}
