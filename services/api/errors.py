"""Every error the API returns: ``{"error": {"code", "message"}}`` with the fitting 4xx.

No request may produce a bare 500: facequeue's errors map to statuses here,
aiohttp's own HTTP errors are re-shaped, and anything unexpected is logged and
answered as a JSON 500 (which the schemathesis run in the tests must never see).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import redis
from aiohttp import web

from shared import errors
from shared.http import error_response
from shared.logging import get_logger
from shared.scripts import translate

log = get_logger(__name__)

#: HTTP status of each facequeue error.
STATUS: dict[type[errors.FacequeueError], int] = {
    errors.JobNotFound: 404,
    errors.WorkerNotFound: 404,
    errors.GalleryNotFound: 404,
    errors.IdentityNotFound: 404,
    errors.KeyNotFound: 404,
    errors.KeyExists: 409,
    errors.OperationNotFound: 404,
    errors.InvalidImage: 422,
    errors.JobExists: 409,
    errors.InvalidTransition: 409,
    errors.QueuePaused: 409,
    errors.UnknownActor: 422,
    errors.InvalidArguments: 422,
    errors.RedisUnavailable: 503,
    errors.NotReplicated: 503,
    errors.ImageStoreFull: 503,
    errors.ScheduleNotFound: 404,
    errors.ScheduleExists: 409,
    errors.ScheduleDeclaredInCode: 409,
    errors.InvalidSchedule: 422,
}

#: Codes for aiohttp's own HTTP errors (unknown route, wrong method, body too large...).
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


#: Seconds a client is told to wait after a 503 (Redis unreachable or full).
RETRY_AFTER_S = 5


def facequeue_error_response(exc: errors.FacequeueError) -> web.Response:
    """The status of the error's nearest class in STATUS (400 if none); 503s say when to retry."""
    status = next((s for cls in type(exc).__mro__ if (s := STATUS.get(cls)) is not None), 400)
    headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None
    return error_response(status, exc.code, str(exc), headers=headers)


class ApiError(web.HTTPException):
    """Raised by handlers for request errors that are not facequeue errors (bad JSON, bad query...)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status_code = status
        super().__init__(text=message)
        self.code = code
        self.message = message


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status_code, exc.code, exc.message)
    except errors.FacequeueError as exc:
        return facequeue_error_response(exc)
    except (redis.ConnectionError, redis.TimeoutError) as exc:  # a direct client call, not a script
        return facequeue_error_response(errors.RedisUnavailable(str(exc)))
    except redis.ResponseError as exc:
        translated = translate(exc)
        if isinstance(translated, errors.FacequeueError):
            return facequeue_error_response(translated)
        return _internal(request)
    except web.HTTPException as exc:
        if exc.status_code < 400:
            raise
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return error_response(
            exc.status_code,
            code,
            exc.reason,
            headers={"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None,
        )
    except Exception:
        return _internal(request)


def _internal(request: web.Request) -> web.Response:
    log.exception("unhandled error", path=request.path, method=request.method)
    return error_response(500, "internal_error", "internal error; it has been logged")
