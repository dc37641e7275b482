"""Request and response models: they validate requests and produce the OpenAPI document.

One source of truth: a field's type, bounds and description live here once.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, RootModel, StrictBool

from shared import actions
from shared.cron import MAX_CRON, MAX_TIMEZONE
from shared.face_jobs import DEFAULT_THRESHOLD, DEFAULT_TOP_K, MAX_NAME, MAX_TOP_K
from shared.jobs import Job
from shared.limits import DEFAULT_WINDOW_S, MAX_CONCURRENCY, MAX_RATE, MAX_WINDOW_S, MIN_WINDOW_S
from shared.names import NAME_PATTERN
from shared.retention import MAX_AGE_S as MAX_RETENTION_AGE_S
from shared.retention import MAX_COUNT as MAX_RETENTION_COUNT
from shared.states import DEFAULT_PRIORITY, MAX_PRIORITY, JobState
from shared.submit import MAX_DELAY_MS, MAX_RETRIES
from shared.workers import Worker, WorkerStatus

#: Most jobs one list page returns.
MAX_PAGE = 500
#: Queue names (shared/names.py): no ``.`` or ``:``, at most 64 characters.
QUEUE_PATTERN = NAME_PATTERN


def _not_bool(value: Any) -> Any:
    """JSON true/false is not a number here (pydantic would read it as 1/0)."""
    if isinstance(value, bool):
        raise ValueError("expected a number, not a boolean")
    return value


#: Integers and floats of request bodies.
Int = Annotated[int, BeforeValidator(_not_bool)]
Float = Annotated[float, BeforeValidator(_not_bool)]


class Strict(BaseModel):
    """Unknown fields are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ErrorBody(Strict):
    code: str = Field(description="Stable machine-readable error code.")
    message: str = Field(description="What went wrong, for a person.")


class ErrorResponse(Strict):
    error: ErrorBody


class JobOptions(Strict):
    """How a job runs, whatever it does."""

    priority: Int = Field(default=DEFAULT_PRIORITY, ge=0, le=MAX_PRIORITY, description="Lower runs first.")
    delay_ms: Int = Field(
        default=0, ge=0, le=MAX_DELAY_MS, description="Run no sooner than this many ms from now."
    )
    max_retries: Int | None = Field(
        default=None, ge=0, le=MAX_RETRIES, description="Retries after a failure."
    )
    queue: str | None = Field(
        default=None, pattern=QUEUE_PATTERN, description="Checked against the actor's queue."
    )


class SubmitJob(JobOptions):
    """A job for any actor of the catalog, by name."""

    actor: str = Field(min_length=1, max_length=200, description="Actor name from the catalog.")
    args: list[Any] | dict[str, Any] = Field(
        default_factory=list, description="Positional arguments, or arguments by name."
    )


IMAGE_DOC = "The image (JPEG, PNG, WebP, BMP or GIF), base64-encoded (a data: URL prefix is allowed)."


class SearchOptions(Strict):
    gallery: str | None = Field(
        default=None, pattern=NAME_PATTERN, description="Gallery to search; none: detect faces only."
    )
    top_k: Int = Field(default=DEFAULT_TOP_K, ge=1, le=MAX_TOP_K, description="Matches per face.")
    threshold: Float = Field(
        default=DEFAULT_THRESHOLD, ge=-1, le=1, description="Least cosine similarity of a match."
    )


class SubmitFaceSearch(JobOptions, SearchOptions):
    """A face search: the image inline (JSON), stored once in Redis and referenced by the job."""

    image: str = Field(min_length=1, description=IMAGE_DOC)


class FaceSearchForm(SearchOptions):
    """A face search as a multipart upload (the options as form fields)."""

    image: bytes = Field(description="The image file.")
    priority: Int = Field(default=DEFAULT_PRIORITY, ge=0, le=MAX_PRIORITY)
    delay_ms: Int = Field(default=0, ge=0, le=MAX_DELAY_MS)
    max_retries: Int | None = Field(default=None, ge=0, le=MAX_RETRIES)


class SubmitRequest(RootModel[SubmitFaceSearch | SubmitJob]):
    """A face search (has ``image``) or a job for any actor by name (has ``actor``)."""


class EnrollIdentity(Strict):
    name: str = Field(min_length=1, max_length=MAX_NAME, description="Who the face belongs to.")
    image: str = Field(min_length=1, description=IMAGE_DOC)
    priority: Int = Field(default=DEFAULT_PRIORITY, ge=0, le=MAX_PRIORITY)


class EnrollForm(Strict):
    name: str = Field(min_length=1, max_length=MAX_NAME)
    image: bytes = Field(description="The image file.")
    priority: Int = Field(default=DEFAULT_PRIORITY, ge=0, le=MAX_PRIORITY)


class GalleryOut(BaseModel):
    name: str
    identities: int
    version: Int = Field(description="Rises with every change; workers' indexes follow it.")


class GalleryList(BaseModel):
    galleries: list[GalleryOut]


class IdentityOut(BaseModel):
    id: str
    name: str
    created_ms: int
    image: str = Field(description="SHA-256 of the enrolment image (GET /api/v1/images/{sha256}).")
    box: list[float]
    score: float
    job: str


class IdentityList(BaseModel):
    identities: list[IdentityOut]
    next_cursor: str | None
    scanned: int | None = Field(default=None, description="Name search only: identities read.")


class IdentityQuery(Strict):
    limit: Int = Field(default=50, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(default=None, pattern=r"^[0-9a-z]{1,64}$")
    q: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_NAME,
        description="Only identities whose name contains this (any case); no paging (first `limit`).",
    )


class IdentityRename(Strict):
    name: str = Field(min_length=1, max_length=MAX_NAME, description="The identity's new name.")


class IdentityRenamed(BaseModel):
    gallery: str
    identity: str
    name: str
    version: int


class IdentityRemoval(BaseModel):
    gallery: str
    identity: str
    version: int


class GalleryRemoval(BaseModel):
    gallery: str
    removed: Int = Field(description="Identities deleted with it.")


class ActorOut(BaseModel):
    name: str
    queue: str
    doc: str
    args: dict[str, Any] = Field(description="JSON Schema of the arguments, by name.")


class ActorList(BaseModel):
    actors: list[ActorOut]


class SetPriority(Strict):
    priority: Int = Field(ge=0, le=MAX_PRIORITY, description="Lower runs first.")


class JobOut(RootModel[Job]):
    """A job exactly as the registry holds it (the shared dataclass is the one definition)."""


class JobList(BaseModel):
    jobs: list[JobOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at the end.")
    scanned: int | None = Field(
        default=None, description="Search only: index entries or jobs this page looked at."
    )
    candidates: int | None = Field(
        default=None,
        description="Search only: entries or jobs in the searched range; with next_cursor set and a "
        "short page, the budget ran out after `scanned` of them (go on with the cursor).",
    )
    indexed: str | None = Field(
        default=None, description="Search only: the indexed field the search started from, if any."
    )


class ListJobsQuery(Strict):
    """With queue and state (and no q): that state's jobs in its own order (waiting: most urgent
    first; delayed: soonest first; others newest first). Otherwise: newest first over every job,
    filtered by any of queue, state and q (a search: see shared/search.py)."""

    queue: str | None = Field(default=None, pattern=QUEUE_PATTERN)
    state: JobState | None = None
    q: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="Search terms, space-separated, all must hold: `state:failed`, `queue:q`, "
        "`actor:a`, `id:<start>`, `after:2h` / `before:<ISO 8601 UTC or epoch s>`, catalog fields "
        "(indexed: `gallery:demo`, `image:<sha start>`, `name:Alice`, `match:Bob`, `error:Timeout`), "
        "any value by path (`args.request.top_k:5`, `result.faces_found:2`; scanned); a value "
        "ending in `*` matches by its start; a bare word is an actor or the start of a job id.",
    )
    limit: Int = Field(default=50, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(
        default=None,
        max_length=700,
        pattern=r"^(([0-9]+(\.[0-9]+)?(e\+[0-9]+)?:)?[0-9a-z-]{1,64}|s\.[A-Za-z0-9_-]{1,680})$",
        description="The next_cursor of the previous page.",
    )
    budget: Int = Field(
        default=5000,
        ge=100,
        le=50_000,
        description="Search only: most index entries or jobs one page looks at.",
    )


class ForceQuery(Strict):
    force: bool = Field(default=False, description="Delete even an active job (its outcome is dropped).")


class Transition(BaseModel):
    id: str
    state: str = Field(description="The job's state after the action (the removed state for deletes).")


class QueueOut(BaseModel):
    name: str
    paused: bool
    counts: dict[str, int]
    oldest_waiting_s: float | None = Field(description="Age of the oldest waiting job.")
    completed_per_s: Float = Field(description="Completions per second over the last minute.")
    failed_per_s: Float = Field(description="Failures per second over the last minute.")


class QueueList(BaseModel):
    queues: list[QueueOut]


class PauseOut(BaseModel):
    queue: str
    paused: bool
    changed: bool = Field(description="False when the queue already was in that state.")


class WorkerList(BaseModel):
    #: The record is shared/workers.py's Worker (what the monitor publishes), not a copy.
    workers: list[Worker]


class WorkerRemoval(BaseModel):
    worker: str
    outcome: str = Field(description="draining (202: a live worker stops) or forgotten (200: a dead one).")


#: Longest job id there is: a longer one names no job and is refused (or not found) unread.
MAX_JOB_ID = 64
JobId = Annotated[str, Field(min_length=1, max_length=MAX_JOB_ID)]


class BulkFilter(Strict):
    queue: str = Field(pattern=QUEUE_PATTERN)
    state: JobState


class BulkBase(Strict):
    action: actions.BulkVerb = Field(
        description="retry applies to failed jobs, promote to delayed ones, delete to any (active: with"
        " force); jobs it does not apply to are counted as skipped."
    )
    force: StrictBool = Field(
        default=False, description="Delete active jobs too (their outcomes are dropped)."
    )


class BulkByIds(BulkBase):
    ids: list[JobId] = Field(min_length=1, max_length=100_000)


class BulkByFilter(BulkBase):
    filter: BulkFilter = Field(description="Every job of one queue in one state.")


class BulkAction(RootModel[BulkByIds | BulkByFilter]):
    """One action over many jobs: by ids, or every job of one queue and state."""


class CleanQueue(Strict):
    states: list[Literal["completed", "failed"]] = Field(min_length=1, max_length=2)
    older_than_s: Int = Field(
        default=0, ge=0, le=10 * 365 * 86_400, description="Finished at least this long ago."
    )


class Stats(BaseModel):
    queues: list[QueueOut]
    totals: dict[str, int] = Field(description="Jobs per state over every queue.")
    workers: dict[WorkerStatus, int] = Field(description="Worker processes by status.")


class HistoryQuery(Strict):
    minutes: int = Field(default=60, ge=1, le=24 * 60, description="Most recent samples returned.")


class HistorySample(BaseModel):
    minute_ms: int = Field(description="End of the sampled minute (Redis clock, ms).")
    completed: dict[str, int] = Field(description="Jobs completed per queue in that minute.")
    failed: dict[str, int] = Field(description="Jobs failed per queue in that minute.")


class HistoryList(BaseModel):
    samples: list[HistorySample] = Field(description="Oldest first; empty until the monitor samples.")


class AuditEntry(BaseModel):
    id: str
    who: str
    action: str
    queue: str
    target: str
    count: int
    skipped: int
    ts_ms: int
    address: str = Field(default="", description="Client address of the caller, where recorded.")
    role: str = Field(default="", description="Role of the caller, where recorded.")


class AuditQuery(Strict):
    limit: Int = Field(default=100, ge=1, le=1000)
    before: str | None = Field(
        default=None, pattern=r"^[0-9]{1,19}-[0-9]{1,19}$", description="Entries older than this id."
    )
    person: str | None = Field(default=None, max_length=254, description="Only this person or key (who).")
    action: str | None = Field(default=None, max_length=64, description="Only this action.")
    queue: str | None = Field(default=None, pattern=QUEUE_PATTERN, description="Only this queue.")
    since_ms: Int | None = Field(default=None, ge=0, description="Only entries at or after this time (ms).")
    until_ms: Int | None = Field(default=None, ge=0, description="Only entries before this time (ms).")


class AuditList(BaseModel):
    entries: list[AuditEntry]


class Login(Strict):
    token: str = Field(min_length=1, max_length=500, description="FQ_ADMIN_TOKEN or FQ_VIEWER_TOKEN.")


class LoginCode(Strict):
    code: str = Field(
        min_length=1,
        max_length=200,
        description="The one-time code of a login link (printed by facequeue up or facequeue login-link).",
    )


class SessionOut(BaseModel):
    role: str | None = Field(description="The role the session grants; null after logout.")
    via: Literal["bearer", "cookie", "proxy"] | None = Field(
        default=None,
        description="What proved the role: a bearer token, the session cookie or a trusted auth proxy.",
    )
    name: str | None = Field(
        default=None, description="Who: a person's email, a key's name, a token's variable."
    )
    queues: list[str] | None = Field(default=None, description="Queues in scope; null: every queue.")
    kind: str | None = Field(default=None, description="token, key, oidc or proxy.")
    created_ms: int | None = Field(default=None, description="When the session was opened (cookie only).")
    expires_ms: int | None = Field(default=None, description="When the session ends at the latest.")
    client_address: str | None = Field(
        default=None, description="The client address the API sees (through trusted proxies only)."
    )


class SessionsEnded(BaseModel):
    ended: int = Field(description="Sessions that were live and are now over.")


class RetentionPolicy(Strict):
    """How long a queue keeps its finished jobs: at most a count of each, none older than an age."""

    completed_age_s: Float = Field(
        gt=0, le=MAX_RETENTION_AGE_S, description="Seconds a completed job is kept."
    )
    completed_count: Int = Field(ge=0, le=MAX_RETENTION_COUNT, description="Completed jobs kept at most.")
    failed_age_s: Float = Field(gt=0, le=MAX_RETENTION_AGE_S, description="Seconds kept.")
    failed_count: Int = Field(ge=0, le=MAX_RETENTION_COUNT, description="Failed jobs kept at most.")


class QueueRetention(BaseModel):
    queue: str
    policy: RetentionPolicy
    custom: bool = Field(description="Whether the queue sets its own policy (else: the defaults).")


class RetentionList(BaseModel):
    defaults: RetentionPolicy
    queues: list[QueueRetention]


class LimitsIn(Strict):
    """A queue's limits (issue 21); null lifts a limit. Enforced where jobs are handed to Dramatiq."""

    concurrency: Int | None = Field(
        ge=1, le=MAX_CONCURRENCY, description="Most jobs of the queue handed out or running at once."
    )
    rate_limit: Int | None = Field(ge=1, le=MAX_RATE, description="Most job starts per window.")
    rate_window_s: Float = Field(
        default=DEFAULT_WINDOW_S,
        ge=MIN_WINDOW_S,
        le=MAX_WINDOW_S,
        description="Length of the rate limit's sliding window, in seconds.",
    )


class LimitsOut(BaseModel):
    queue: str
    concurrency: int | None = Field(description="Concurrency limit; null: none.")
    rate_limit: int | None = Field(description="Starts per window; null: none.")
    rate_window_s: float
    in_use: int = Field(description="Jobs handed to Dramatiq or running now (what concurrency counts).")
    in_window: int = Field(description="Jobs started within the current rate window.")
    limited_wait_s: float = Field(description="Seconds the queue's jobs have waited because of its limits.")


class LimitsList(BaseModel):
    queues: list[LimitsOut]


class ScheduleBody(Strict):
    """What a schedule runs and when (issue 21); every firing is a normal job linked to it."""

    cron: str = Field(
        min_length=1,
        max_length=MAX_CRON,
        description="5-field cron expression (minute hour day month weekday), or @hourly, @daily, "
        "@weekly, @monthly, @yearly.",
    )
    timezone: str = Field(default="UTC", min_length=1, max_length=MAX_TIMEZONE, description="IANA time zone.")
    actor: str = Field(min_length=1, max_length=200, description="Actor name from the catalog.")
    args: list[Any] | dict[str, Any] = Field(
        default_factory=list, description="Positional arguments, or arguments by name."
    )
    queue: str | None = Field(
        default=None, pattern=QUEUE_PATTERN, description="Checked against the actor's queue."
    )
    priority: Int = Field(default=DEFAULT_PRIORITY, ge=0, le=MAX_PRIORITY, description="Lower runs first.")
    enabled: StrictBool = Field(default=True, description="False pauses the schedule.")
    misfire: Literal["skip", "run_once"] = Field(
        default="skip",
        description="After the monitors were down: skip the missed times, or run once for all of them.",
    )


class ScheduleCreate(ScheduleBody):
    name: str = Field(pattern=NAME_PATTERN, description="Unique name of the schedule.")


class ScheduleOut(BaseModel):
    name: str
    cron: str
    timezone: str
    actor: str
    queue: str
    args: list[Any] | dict[str, Any]
    priority: int
    enabled: bool
    misfire: str
    source: Literal["api", "code"] = Field(
        description="Declared through the API, or in code next to the actor."
    )
    next_ms: int | None = Field(description="Next fire time (ms); null while paused.")
    last_ms: int | None = Field(description="Fire time of the last firing (ms); null before the first.")
    last_job: str | None = Field(description="The job the last firing created.")
    last_job_state: str | None = Field(description="That job's state now; null when gone.")
    last_error: str | None = Field(
        default=None, description="Why the last due firing could not happen; null once one did."
    )


class ScheduleList(BaseModel):
    schedules: list[ScheduleOut]


class ScheduleRun(BaseModel):
    schedule: str
    job: str = Field(description="The job created now.")


class ChartQuery(Strict):
    window: Literal["5m", "1h", "24h", "7d"] = Field(
        default="1h", description="Span of the chart: 10 s points up to 1 h, 1 min for 24 h, 10 min for 7 d."
    )


class ChartFigures(BaseModel):
    completed: int = Field(description="Jobs completed in the bucket.")
    failed: int = Field(description="Jobs failed in the bucket.")
    waiting: int = Field(description="Jobs waiting when the bucket closed.")
    active: int = Field(description="Jobs active when the bucket closed.")
    p50_ms: int | None = Field(description="Median run time of the bucket's completions (ms).")
    p95_ms: int | None = Field(description="95th percentile run time of the bucket's completions (ms).")


class ChartPoint(BaseModel):
    t: int = Field(description="End of the bucket (Redis clock, ms).")
    queues: dict[str, ChartFigures]


class ChartHistory(BaseModel):
    window: str
    step_ms: int = Field(description="Bucket size of the points.")
    tier: str = Field(description="Resolution tier; live `history` events of this tier extend the chart.")
    points: list[ChartPoint] = Field(description="Oldest first; empty until the monitor writes points.")


# Operations, trash and failure groups (issue 20).

#: A failure fingerprint: the worker's hash (hex) or one an actor sets (shared/fingerprints.py).
FINGERPRINT_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"


class OperationFilter(Strict):
    queue: str = Field(pattern=QUEUE_PATTERN)
    state: JobState
    fingerprint: str | None = Field(
        default=None,
        pattern=FINGERPRINT_PATTERN,
        description="Only the failed jobs of this failure group (state must be failed).",
    )


#: What an operation does.
OperationAction = Literal["retry", "delete", "promote", "set-priority", "clean"]


class OperationBase(Strict):
    action: OperationAction = Field(
        description="retry applies to failed jobs, promote to delayed ones, set-priority to waiting and"
        " delayed ones, clean to completed or failed ones finished before the cut-off, delete to any"
        " (active: with force); jobs it does not apply to are counted as skipped."
    )
    force: StrictBool = Field(
        default=False, description="Delete active jobs too (their outcomes are dropped)."
    )
    priority: Int | None = Field(
        default=None, ge=0, le=MAX_PRIORITY, description="The new priority (set-priority only)."
    )
    older_than_s: Int = Field(
        default=0, ge=0, le=10 * 365 * 86_400, description="clean: jobs finished at least this long ago."
    )
    dry_run: StrictBool = Field(
        default=False, description="Answer 200 with the exact count and a sample; change nothing."
    )


class OperationByIds(OperationBase):
    ids: list[JobId] = Field(min_length=1, max_length=100_000)


class OperationByFilter(OperationBase):
    filter: OperationFilter = Field(description="Every job of one queue in one state (or one failure group).")


class OperationRequest(RootModel[OperationByIds | OperationByFilter]):
    """Bulk work by ids, or over every job of one queue and state, run in the background."""


class OperationOut(BaseModel):
    id: str
    action: str
    state: str = Field(description="queued, running, done, cancelled or failed.")
    queue: str = Field(description="The filter's queue ('' for ids spanning queues).")
    filter_state: str = Field(description="The filter's state ('' for ids).")
    fingerprint: str
    ids: int = Field(description="Ids named (0 for a filter).")
    force: bool
    priority: int | None
    cutoff_ms: int | None
    total: int = Field(description="Jobs targeted, fixed at creation.")
    done: int
    skipped: int = Field(description="Targets the action no longer applied to (or unknown ids).")
    created_by: str
    created_ms: int
    started_ms: int | None
    finished_ms: int | None
    undo_of: str = Field(description="For an undo: the delete operation it restores.")


class CleanOperations(BaseModel):
    queue: str
    operations: list[OperationOut] = Field(description="One clean operation per state named.")


class OperationList(BaseModel):
    operations: list[OperationOut]


class OperationPreview(BaseModel):
    dry_run: bool
    action: str
    total: int = Field(description="Exactly the jobs a real run would target now.")
    sample: list[str] = Field(description="A few of them (the first ones).")


class OperationsQuery(Strict):
    limit: int = Field(default=50, ge=1, le=500)


class FailuresQuery(Strict):
    queue: str = Field(pattern=QUEUE_PATTERN)
    limit: int = Field(default=100, ge=1, le=1000)


class FailureGroupOut(BaseModel):
    queue: str
    fingerprint: str
    actor: str
    exception: str
    message: str = Field(description="The latest failure's error line.")
    count: int = Field(description="Failed jobs in the group now (exact).")
    first_ms: int
    last_ms: int
    sample: str = Field(description="The latest failed job of the group.")


class FailureList(BaseModel):
    groups: list[FailureGroupOut]


class TrashQuery(Strict):
    limit: int = Field(default=100, ge=1, le=1000)


class TrashEntry(BaseModel):
    job: str
    queue: str
    state: str = Field(description="The state it was deleted in (restored to it by undo).")
    actor: str
    deleted_ms: int
    operation: str = Field(description="The operation that deleted it ('' for a single delete).")


class TrashList(BaseModel):
    entries: list[TrashEntry]


class FailureJobsQuery(Strict):
    queue: str = Field(pattern=QUEUE_PATTERN)
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
