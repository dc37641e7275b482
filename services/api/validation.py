"""Turning request bodies and query strings into models, with 4xx errors that say why."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from services.api.errors import ApiError
from shared.http import SETTINGS

M = TypeVar("M", bound=BaseModel)

#: Largest JSON body accepted, in bytes (images have their own limit).
MAX_JSON_BYTES = 1 << 20


def explain(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def _no_constant(name: str) -> Any:
    """``NaN``, ``Infinity`` and ``-Infinity`` are not JSON (Python reads them; ranges then pass)."""
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    """A float literal too large for a double (``1e400``) would read as infinity."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def depth(value: Any) -> int:
    """How deeply arrays and objects nest in ``value`` (iteratively: no recursion to exhaust)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


def parse_json(raw: bytes | bytearray, max_depth: int) -> Any:
    """Strict JSON: no NaN/Infinity, finite numbers only, nesting at most ``max_depth``; else 400.

    Deep nesting used to be a 500 (RecursionError in the parser or in whatever
    walked the value next); the depth check keeps what is accepted far below
    Python's recursion limit.
    """
    try:
        data = json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise ApiError(400, "bad_request", f"JSON nests deeper than {max_depth} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "bad_request", f"body is not valid JSON: {exc}") from None
    if depth(data) > max_depth:
        raise ApiError(400, "bad_request", f"JSON nests deeper than {max_depth} levels")
    return data


async def read_body(request: web.Request, max_bytes: int) -> bytearray:
    """The body, refused with 413 as soon as it passes ``max_bytes`` (chunked bodies too) and
    with 408 when it takes longer than ``http_body_timeout_s`` to arrive."""
    too_large = ApiError(413, "payload_too_large", f"JSON bodies are limited to {max_bytes} bytes")
    if request.content_length is not None and request.content_length > max_bytes:
        raise too_large
    raw = bytearray()
    try:
        async with asyncio.timeout(request.app[SETTINGS].http_body_timeout_s):
            async for chunk in request.content.iter_chunked(65_536):
                raw += chunk
                if len(raw) > max_bytes:
                    raise too_large
    except TimeoutError:
        raise ApiError(408, "request_timeout", "the request body arrived too slowly") from None
    return raw


async def json_data(request: web.Request, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """The parsed JSON body: 415 if not JSON, 413 if too large, 400 if malformed."""
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "send application/json")
    raw = await read_body(request, max_bytes)
    return parse_json(raw, request.app[SETTINGS].max_json_depth)


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
