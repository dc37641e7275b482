"""Image uploads: read (base64 JSON or multipart), checked completely, stored once by SHA-256.

Every refusal happens before anything is written: 413 over ``FQ_MAX_IMAGE_BYTES``
(or a multipart body past its total, chunked or not), 400 for more than
``FQ_MAX_FORM_PARTS`` parts, 408 for a body slower than ``FQ_HTTP_BODY_TIMEOUT_S``,
415 for what is not an image, 422 for damaged images and decompression bombs.
Decodes run off the event loop, at most ``FQ_DECODE_CONCURRENCY`` at once.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import re
from collections.abc import AsyncIterator
from typing import TypeVar

import redis.asyncio
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel, ValidationError

from services.api.errors import ApiError
from services.api.openapi import Route
from services.api.state import REGISTRY
from services.api.validation import explain
from shared import images, keys
from shared.config import Settings
from shared.errors import InvalidImage
from shared.http import SETTINGS

#: A binary Redis client for image bytes (the app's shared client decodes replies as text).
IMAGE_STORE = web.AppKey("image_store", redis.asyncio.Redis)
#: Form fields besides the image are small; anything longer is refused.
MAX_FIELD_BYTES = 4096

F = TypeVar("F", bound=BaseModel)

_STATUS = {images.NotAnImage: 415, images.ImageTooLarge: 422, images.CorruptImage: 422}


def json_limit(settings: Settings) -> int:
    """Largest JSON body carrying an image: base64 grows it by a third, plus the other fields."""
    return settings.max_image_bytes * 4 // 3 + 65_536


def _too_large(settings: Settings) -> ApiError:
    return ApiError(413, "payload_too_large", f"images are limited to {settings.max_image_bytes} bytes")


def decode_base64(value: str, settings: Settings) -> bytes:
    """The bytes of a base64 image field (a ``data:...;base64,`` prefix is allowed)."""
    if value.startswith("data:"):
        value = value.partition(",")[2]
    if len(value) > json_limit(settings):
        raise _too_large(settings)
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(422, "validation_error", "image: not valid base64") from None
    if len(data) > settings.max_image_bytes:
        raise _too_large(settings)
    return data


async def read_form(request: web.Request, model: type[F]) -> F:
    """Parse a multipart upload into ``model``: the ``image`` part as bytes, other parts as text."""
    settings = request.app[SETTINGS]
    if request.content_length is not None and request.content_length > json_limit(settings):
        raise _too_large(settings)
    try:
        async with asyncio.timeout(settings.http_body_timeout_s):
            fields = await _read_parts(request, settings)
    except TimeoutError:
        raise ApiError(408, "request_timeout", "the request body arrived too slowly") from None
    except (
        ValueError,
        AssertionError,
        UnicodeDecodeError,
        HttpProcessingError,
    ) as exc:  # malformed multipart
        raise ApiError(400, "bad_request", f"malformed multipart body: {exc}") from None
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise ApiError(422, "validation_error", explain(exc)) from None


async def _read_parts(request: web.Request, settings: Settings) -> dict[str, str | bytes]:
    """Every part, counted and summed as it arrives: a chunked body has no Content-Length to
    check first, so the total (``json_limit``) and the part count are enforced while reading."""
    reader = await request.multipart()
    fields: dict[str, str | bytes] = {}
    budget, parts = json_limit(settings), 0
    while (part := await reader.next()) is not None:
        parts += 1
        if parts > settings.max_form_parts:
            raise ApiError(400, "bad_request", f"at most {settings.max_form_parts} form parts")
        if not isinstance(part, BodyPartReader) or not part.name:
            raise ApiError(400, "bad_request", "every form part needs a name")
        if part.name in fields:
            raise ApiError(400, "bad_request", f"form field {part.name} is repeated")
        limit = settings.max_image_bytes if part.name == "image" else MAX_FIELD_BYTES
        data = await _read_part(part, min(limit, budget))
        if data is None:
            if part.name == "image" or budget < limit:
                raise _too_large(settings)
            raise ApiError(422, "validation_error", f"{part.name}: longer than {MAX_FIELD_BYTES} bytes")
        budget -= len(data)
        if part.name == "image":
            fields["image"] = data
        elif data:  # an empty field is an absent one, as browsers send unset inputs
            fields[part.name] = data.decode("utf-8", "replace")
    return fields


async def _read_part(part: BodyPartReader, limit: int) -> bytes | None:
    """The part's bytes, or None once it exceeds ``limit`` (never buffering much beyond it)."""
    chunks, size = [], 0
    while chunk := await part.read_chunk(65_536):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def store(request: web.Request, data: bytes) -> images.ImageInfo:
    """Check an image completely (off the event loop), then store it under its SHA-256 with the TTL."""
    settings = request.app[SETTINGS]
    try:
        check = functools.partial(
            images.inspect, data, settings.max_image_pixels, concurrency=settings.decode_concurrency
        )
        info = await asyncio.get_running_loop().run_in_executor(None, check)
    except InvalidImage as exc:
        raise ApiError(_STATUS.get(type(exc), 422), exc.code, str(exc)) from None
    await request.app[REGISTRY].run(images.store_call(info.sha256, data, settings))
    return info


def is_multipart(request: web.Request) -> bool:
    return request.content_type == "multipart/form-data"


async def image_store_ctx(app: web.Application) -> AsyncIterator[None]:
    client = redis.asyncio.Redis.from_url(app[SETTINGS].redis_url, socket_timeout=5)
    app[IMAGE_STORE] = client
    yield
    await client.aclose()


async def get_image(request: web.Request) -> web.Response:
    """The stored bytes of an image, for the dashboard's job drawer."""
    sha256 = request.match_info["sha256"]
    if not re.match(images.SHA256_PATTERN, sha256):
        raise ApiError(404, "image_not_found", "image ids are SHA-256 digests in lowercase hex")
    data: bytes | None = await request.app[IMAGE_STORE].get(keys.image_key(sha256))  # type: ignore[assignment]
    if data is None:
        raise ApiError(404, "image_not_found", f"image {sha256} has expired or was never stored")
    return web.Response(
        body=data,
        content_type=images.media_type(data),
        headers={"Cache-Control": "private, max-age=86400, immutable", "X-Content-Type-Options": "nosniff"},
    )


ROUTES = [Route("GET", "/api/v1/images/{sha256}", get_image, "An uploaded image's bytes", errors=(404,))]
