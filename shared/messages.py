"""The Dramatiq message facequeue hands to workers, built once per job.

The dispatch script appends the per-dispatch options (generation, retries
so far, Dramatiq's redis message id) to this template, so Lua never has to
decode and re-encode the job's arguments (cjson would turn ``[]`` into ``{}``).
"""

from __future__ import annotations

import json
from typing import Any

#: Options key holding the facequeue job id.
JOB_OPTION = "fq_job"
#: Options key holding the generation the message was dispatched under.
GEN_OPTION = "fq_gen"
#: Closing of the options object and the message, which the template leaves open.
_TAIL = "}}"


def message_template(
    *, job_id: str, queue: str, actor: str, args: list[Any], max_retries: int, created_ms: int
) -> str:
    """Encoded Dramatiq message with its ``options`` object left open at the end."""
    message = {
        "queue_name": queue,
        "actor_name": actor,
        "args": args,
        "kwargs": {},
        "message_id": job_id,
        "message_timestamp": created_ms,
        # Must stay last: the dispatch script appends to it.
        "options": {JOB_OPTION: job_id, "max_retries": max_retries},
    }
    encoded = json.dumps(message, separators=(",", ":"))
    assert encoded.endswith(_TAIL)
    return encoded[: -len(_TAIL)]
