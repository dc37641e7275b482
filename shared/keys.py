"""Every Redis key and channel name facequeue uses, in one place.

Call sites never glue key strings together; Lua scripts get every key through
``KEYS``, or, for the keys of what they find as they run (a batch's jobs, a job's failure
group, a trashed job's operation), from the prelude's functions made from this module's
templates (:data:`SCRIPT_KEYS`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

#: Prefix of all facequeue-owned keys.
PREFIX = "fq"
#: Every job id, in a sorted set with equal scores: ordered by id, which is by age.
JOBS_INDEX = f"{PREFIX}:jobs"
#: Job search index (issue 23): members ``<field> US <value> US <job id>`` (US = 0x1f), equal
#: scores, so a lex range finds a value's jobs newest last; added by the transition scripts for
#: the catalog's searchable fields, dropped when a search or the monitor's sweep meets a job
#: that is gone.
SEARCH_INDEX = f"{PREFIX}:search"
#: The search index janitor's place: the last member it looked at (search_sweep.lua).
SEARCH_SWEEP = f"{PREFIX}:search:sweep"
#: Set of every queue that has ever held a job.
QUEUES = f"{PREFIX}:queues"
#: Set of paused queues.
PAUSED = f"{PREFIX}:paused"
#: Stream of every event (capped, see ``Settings.events_maxlen``).
EVENTS_STREAM = f"{PREFIX}:events"
#: Counter giving each event its gap-free sequence number.
EVENTS_SEQ = f"{PREFIX}:events:seq"
#: Pub/sub channel carrying every event live.
UPDATES_CHANNEL = "queue:updates"
#: Sorted set of worker ids scored by last heartbeat (ms, Redis clock).
WORKERS = f"{PREFIX}:workers"
#: Sorted set of workers found dead, scored by time of death (ms); listed for a while.
WORKERS_DEAD = f"{PREFIX}:workers:dead"
#: Pub/sub channel told a worker id whenever a worker joins, leaves or dies.
WORKERS_CHANGED_CHANNEL = f"{PREFIX}:workers:changed"
#: Pub/sub channel told a gallery's name whenever it changes (its ``gallery`` event also goes to
#: UPDATES_CHANNEL): face workers follow this one instead of reading every job event.
GALLERY_CHANGED_CHANNEL = f"{PREFIX}:galleries:changed"
#: Stream of one-minute samples of counts and throughput (explicit ids: one entry per minute).
HISTORY_STREAM = f"{PREFIX}:history"
#: Prefix of per-worker hashes.
WORKER_PREFIX = f"{PREFIX}:worker:"
#: Stream of admin actions.
AUDIT_STREAM = f"{PREFIX}:audit"
#: Sorted set of every schedule's name, scored by next fire time (ms; paused: +inf): what is due (issue 21).
SCHEDULES = f"{PREFIX}:schedules"
#: Prefix of per-schedule hashes.
SCHEDULE_PREFIX = f"{PREFIX}:schedule:"

#: Sorted set of live session ids scored by expiry (ms), to count and end them all.
SESSIONS = f"{PREFIX}:sessions"
#: Counter bumped by "end all sessions": a session created under an older epoch is over.
SESSIONS_EPOCH = f"{PREFIX}:sessions:epoch"

#: Sorted set of stored images by SHA-256, scored by when they expire (ms).
IMAGES = f"{PREFIX}:images"
#: Hash: bytes of each stored image, by SHA-256 (what the quota counts).
IMAGE_SIZES = f"{PREFIX}:images:sizes"
#: Counter: bytes of every stored image.
IMAGE_BYTES = f"{PREFIX}:images:bytes"
#: Set of every gallery that holds at least one identity.
GALLERIES = f"{PREFIX}:galleries"
#: Hash of gallery -> version; never deleted, so a re-created gallery's versions keep rising.
GALLERY_VERSIONS = f"{PREFIX}:galleries:versions"

#: Operations (issue 20): sorted set of every operation id by creation time (ms).
OPERATIONS = f"{PREFIX}:ops"
#: Sorted set of operations not finished yet (queued or running), by creation time (ms).
OPERATIONS_PENDING = f"{PREFIX}:ops:pending"
#: The lease of the monitor executing operations: "<owner> <token>", with a TTL.
OPERATIONS_LEASE = f"{PREFIX}:ops:lease"
#: Counter issuing fencing tokens, one per lease taken.
OPERATIONS_FENCE = f"{PREFIX}:ops:fence"
#: Sorted set of trashed jobs (``<job id>|<operation id or ''>``) by deletion time (ms).
TRASH = f"{PREFIX}:trash"

#: Dramatiq's namespace: its keys are touched only through Dramatiq and audited scripts.
DRAMATIQ_NAMESPACE = "dramatiq"
#: Dramatiq's broker heartbeats.
DRAMATIQ_HEARTBEATS = f"{DRAMATIQ_NAMESPACE}:__heartbeats__"


# Keys the scripts fill in themselves (issue 24). A script that finds ids as it runs (a batch's
# jobs, a job's failure group, a trashed job's operation) cannot be handed their keys in KEYS and
# stay one atomic call. So each such key's shape is a template written here only: its Python
# function formats it, and shared/scripts.py writes a Lua function of the same name and
# parameters from it into every script's prelude. Changing a template changes both.

#: Lua function name -> template (``{name}`` holes, in the function's parameter order).
SCRIPT_KEYS: dict[str, str] = {}

_KeyFunction = TypeVar("_KeyFunction", bound=Callable[..., str])


def _in_scripts(template: str) -> Callable[[_KeyFunction], _KeyFunction]:
    """Register the decorated key function's template (the one its body formats) by its name."""

    def register(function: _KeyFunction) -> _KeyFunction:
        SCRIPT_KEYS[function.__name__] = template
        return function

    return register


_JOB = f"{PREFIX}:job:{{job_id}}"
_STATE = f"{PREFIX}:q:{{queue}}:{{state}}"
_TRASH_JOB = f"{PREFIX}:trash:job:{{job_id}}"
_OPERATION = f"{PREFIX}:op:{{op_id}}"
_OPERATION_IDS = f"{PREFIX}:op:{{op_id}}:ids"
_OPERATION_TRASH = f"{PREFIX}:op:{{op_id}}:trash"
_FAILURE_GROUPS = f"{PREFIX}:failures:{{queue}}"
_FAILURE_GROUP = f"{PREFIX}:failures:{{queue}}:{{fingerprint}}"
_FAILURE_GROUP_JOBS = f"{PREFIX}:failures:{{queue}}:{{fingerprint}}:jobs"


@_in_scripts(_JOB)
def job_key(job_id: str) -> str:
    """Hash holding one job's record."""
    return _JOB.format(job_id=job_id)


@_in_scripts(_STATE)
def state_key(queue: str, state: str) -> str:
    """Sorted set of a queue's jobs in one state."""
    return _STATE.format(queue=queue, state=state)


@_in_scripts(_TRASH_JOB)
def trash_job_key(job_id: str) -> str:
    """A deleted job's record while it is in the trash (the job hash renamed, with a TTL)."""
    return _TRASH_JOB.format(job_id=job_id)


#: What every trashed record's key starts with (for scans by tests and tools).
TRASH_JOB_PREFIX = trash_job_key("")


@_in_scripts(_OPERATION)
def operation_key(op_id: str) -> str:
    """Hash of one operation: action, filter, cursor, counts, state, who, times."""
    return _OPERATION.format(op_id=op_id)


@_in_scripts(_OPERATION_IDS)
def operation_ids_key(op_id: str) -> str:
    """Sorted set of the job ids an operation by ids targets, scored by position (grouped by queue)."""
    return _OPERATION_IDS.format(op_id=op_id)


@_in_scripts(_OPERATION_TRASH)
def operation_trash_key(op_id: str) -> str:
    """Sorted set of the jobs an operation deleted (still in the trash), by deletion time (ms)."""
    return _OPERATION_TRASH.format(op_id=op_id)


@_in_scripts(_FAILURE_GROUPS)
def failure_groups_key(queue: str) -> str:
    """Sorted set of a queue's failure fingerprints by last seen (ms)."""
    return _FAILURE_GROUPS.format(queue=queue)


@_in_scripts(_FAILURE_GROUP)
def failure_group_key(queue: str, fingerprint: str) -> str:
    """Hash of one failure group: count, first/last seen, sample job, exception, message, actor."""
    return _FAILURE_GROUP.format(queue=queue, fingerprint=fingerprint)


@_in_scripts(_FAILURE_GROUP_JOBS)
def failure_group_jobs_key(queue: str, fingerprint: str) -> str:
    """Sorted set of a failure group's failed jobs by finish time (ms): its count and its filter."""
    return _FAILURE_GROUP_JOBS.format(queue=queue, fingerprint=fingerprint)


def dispatched_key(queue: str) -> str:
    """Waiting jobs already handed to Dramatiq but not yet started."""
    return f"{PREFIX}:q:{queue}:dispatched"


def retention_key(queue: str) -> str:
    """Hash of a queue's own retention policy (absent fields: the settings' defaults)."""
    return f"{PREFIX}:retention:{queue}"


def limits_key(queue: str) -> str:
    """Hash of a queue's limits (concurrency, rate_limit, rate_window_ms); absent: unlimited (issue 21)."""
    return f"{PREFIX}:limits:{queue}"


def handouts_key(queue: str) -> str:
    """Sorted set of message ids handed to Dramatiq within a rate-limited queue's window, by ms."""
    return f"{PREFIX}:q:{queue}:handouts"


def limited_wait_key(queue: str) -> str:
    """Counter: milliseconds the queue's jobs have waited because of its limits, all told."""
    return f"{PREFIX}:q:{queue}:limited_wait_ms"


def wake_key(queue: str) -> str:
    """A list holding at most one token, pushed when a job becomes waiting; idle consumers block on it."""
    return f"{PREFIX}:wake:{queue}"


def schedule_key(name: str) -> str:
    """Hash of one schedule: cron, time zone, actor, args, queue, priority, enabled, misfire,
    source, next/last fire ms and the last job it created."""
    return SCHEDULE_PREFIX + name


def history_key(tier: str) -> str:
    """Stream of one chart-history tier's points (explicit ids: ``<bucket end ms>-0``)."""
    return f"{PREFIX}:history:{tier}"


def worker_key(worker_id: str) -> str:
    """Hash describing one worker process."""
    return WORKER_PREFIX + worker_id


def dramatiq_queue_key(queue: str) -> str:
    """Dramatiq's list of message ids ready for a queue."""
    return f"{DRAMATIQ_NAMESPACE}:{queue}"


def dramatiq_messages_key(queue: str) -> str:
    """Dramatiq's hash of message id -> encoded message."""
    return f"{DRAMATIQ_NAMESPACE}:{queue}.msgs"


def dramatiq_acks_key(broker_id: str, queue: str) -> str:
    """Dramatiq's set of messages one worker process fetched and has not acked."""
    return f"{DRAMATIQ_NAMESPACE}:__acks__.{broker_id}.{queue}"


def image_key(sha256: str) -> str:
    """Bytes of one uploaded image, stored once under its SHA-256 (with a TTL)."""
    return f"{PREFIX}:image:{sha256}"


def gallery_identities_key(gallery: str) -> str:
    """Hash of identity id -> JSON record (name, enrolment time, image, face box)."""
    return f"{PREFIX}:gallery:{gallery}:identities"


def gallery_embeddings_key(gallery: str) -> str:
    """Hash of identity id -> 128 float32 (512 bytes), the unit-length SFace embedding."""
    return f"{PREFIX}:gallery:{gallery}:embeddings"


def gallery_order_key(gallery: str) -> str:
    """Sorted set of identity ids (equal scores: ordered by id, which is by age), for paging."""
    return f"{PREFIX}:gallery:{gallery}:order"


def gallery_changes_key(gallery: str) -> str:
    """Sorted set of recent changes scored by version (``<version>:+|-|*:<id>``), for catch-up."""
    return f"{PREFIX}:gallery:{gallery}:changes"


def login_failures_key(address: str) -> str:
    """Failed logins from one client address in the current window (rate limiting)."""
    return f"{PREFIX}:login-failures:{address}"


def token_failures_key(prefix_digest: str) -> str:
    """Failed credentials starting with one token prefix (a digest of it), from any address."""
    return f"{PREFIX}:token-failures:{prefix_digest}"


def session_key(session_id: str) -> str:
    """Hash of one dashboard session: role, token fingerprint, epoch, created/expires ms, address."""
    return f"{PREFIX}:session:{session_id}"


def login_code_key(code_digest: str) -> str:
    """The role a one-time login code grants (keyed by the code's SHA-256; TTL: its lifetime)."""
    return f"{PREFIX}:login-code:{code_digest}"


# Identity (issue 22): named API keys, sign-on state.

#: Sorted set of API key ids scored by creation time (ms), for listing.
API_KEYS = f"{PREFIX}:apikeys"


def api_key_key(key_id: str) -> str:
    """Hash of one named API key: name, role, queues, keyed hash of its secret, times, revocation."""
    return f"{PREFIX}:apikey:{key_id}"


def oidc_state_key(state: str) -> str:
    """A sign-on in progress (PKCE verifier, nonce, where to return), by its ``state``; TTL: minutes."""
    return f"{PREFIX}:oidc-state:{state}"


def operation_idempotency_key(who: str, key_digest: str) -> str:
    """The operation an Idempotency-Key (its SHA-256, per caller) created."""
    return f"{PREFIX}:op:idem:{who}:{key_digest}"
