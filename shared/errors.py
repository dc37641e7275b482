"""The one error tree of facequeue; foreign errors are translated at the boundary."""

from __future__ import annotations


class FacequeueError(Exception):
    """Base of every error facequeue raises on purpose."""

    #: Stable machine-readable code, used in API error bodies.
    code = "facequeue_error"


class JobNotFound(FacequeueError):
    """No job has this id (never existed, deleted or trimmed)."""

    code = "job_not_found"


class JobExists(FacequeueError):
    """A job with this id was already submitted."""

    code = "job_exists"


class InvalidTransition(FacequeueError):
    """The job is not in a state that allows the requested action."""

    code = "invalid_transition"

    def __init__(self, message: str, *, state: str | None = None) -> None:
        super().__init__(message)
        self.state = state


class WorkerNotFound(FacequeueError):
    """No worker, live or recently dead, has this id."""

    code = "worker_not_found"


class QueuePaused(FacequeueError):
    """The queue is paused, so the action cannot proceed now."""

    code = "queue_paused"


class UnknownActor(FacequeueError):
    """The actor is not in the catalog, or its arguments do not fit its schema."""

    code = "unknown_actor"


class InvalidArguments(FacequeueError):
    """The job's arguments do not fit its actor's schema."""

    code = "invalid_arguments"


class BadQuery(FacequeueError):
    """A job search query that cannot be parsed (shared/search.py); the API answers 400."""

    code = "bad_query"


class RedisUnavailable(FacequeueError):
    """Redis could not be reached."""

    code = "redis_unavailable"


class NotReplicated(FacequeueError):
    """A change made on the primary that fewer than ``FQ_REDIS_MIN_REPLICAS_ACK`` replicas confirmed in time.

    A failover now could lose it; the caller should treat it as not acknowledged.
    """

    code = "not_replicated"


class ImageStoreFull(FacequeueError):
    """The images' share of Redis (``FQ_IMAGE_QUOTA_BYTES``) is spent until older ones expire."""

    code = "image_store_full"


class RedisFull(RedisUnavailable):
    """Redis refused a write: its memory budget (maxmemory, noeviction) is spent. Nothing changed."""

    code = "redis_full"


class InvalidImage(FacequeueError):
    """An uploaded image cannot be used (not an image, damaged, too many pixels, expired)."""

    code = "invalid_image"


class GalleryNotFound(FacequeueError):
    """No gallery has this name (it holds no identity)."""

    code = "gallery_not_found"


class IdentityNotFound(FacequeueError):
    """The gallery holds no identity with this id."""

    code = "identity_not_found"


class ScheduleNotFound(FacequeueError):
    """No schedule has that name."""

    code = "schedule_not_found"


class ScheduleExists(FacequeueError):
    """A schedule with that name already exists."""

    code = "schedule_exists"


class ScheduleDeclaredInCode(FacequeueError):
    """A schedule declared in code: only its ``enabled`` flag changes outside the code."""

    code = "declared_in_code"


class InvalidSchedule(FacequeueError):
    """A cron expression, time zone or misfire policy that cannot be used."""

    code = "invalid_schedule"


class KeyNotFound(FacequeueError):
    """No API key has this id."""

    code = "key_not_found"


class KeyExists(FacequeueError):
    """An API key with this id exists (a random id collided: try again)."""

    code = "key_exists"


class OperationNotFound(FacequeueError):
    """No operation has this id (never created, or forgotten after its keep time)."""

    code = "operation_not_found"


class LeaseLost(FacequeueError):
    """This monitor no longer holds the operations lease: another one runs them now."""

    code = "lease_lost"
