"""Turning request bodies and query strings into models, with 4xx errors that say why."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from services.api.errors import ApiError

M = TypeVar("M", bound=BaseModel)

#: Largest JSON body accepted, in bytes (images have their own limit).
MAX_JSON_BYTES = 1 << 20


def explain(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


async def json_data(request: web.Request, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """The parsed JSON body: 415 if not JSON, 413 if too large, 400 if malformed."""
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "send application/json")
    too_large = ApiError(413, "payload_too_large", f"JSON bodies are limited to {max_bytes} bytes")
    if request.content_length is not None and request.content_length > max_bytes:
        raise too_large
    raw = bytearray()
    async for chunk in request.content.iter_chunked(65_536):
        raw += chunk
        if len(raw) > max_bytes:
            raise too_large
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "bad_request", f"body is not valid JSON: {exc}") from None


def validate(data: Any, model: type[M]) -> M:
    """422 naming the first few fields that do not validate."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, "validation_error", explain(exc)) from None


async def body(request: web.Request, model: type[M], max_bytes: int = MAX_JSON_BYTES) -> M:
    """Parse and validate a JSON body."""
    return validate(await json_data(request, max_bytes), model)


def query(request: web.Request, model: type[M]) -> M:
    """Parse the query string: 400 on repeated or invalid parameters."""
    params = request.query
    if len(params) != len(set(params.keys())):
        raise ApiError(400, "bad_request", "a query parameter is repeated")
    try:
        return model.model_validate(dict(params))
    except ValidationError as exc:
        raise ApiError(400, "bad_request", explain(exc)) from None
