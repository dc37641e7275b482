"""Uploaded images: checked before they are stored, decoded safely when they are used.

The API inspects an upload (format, size, pixel count, full decode) so bad input
is refused with a 4xx there; the worker decodes again with the same limits, since
a producer other than the API may have stored the bytes.

Decode memory is bounded, not only pixels (issue 16): a 36 MP JPEG used to take
+416 MB at its peak (decoded, turned upright, converted: full copies). Now the
API's check decodes JPEGs at 1/8 scale (libjpeg's DCT scaling, ``draft``: +5.7 MB)
and other formats once with no copy; the worker's decode copies only to turn a
photo upright or to convert its mode (+138 MB); and every decode of a process
takes one of ``decode_concurrency`` slots.
"""

from __future__ import annotations

import hashlib
import io
import math
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from shared import keys
from shared.config import Settings
from shared.errors import InvalidImage
from shared.scripts import Call, Lua

#: Formats accepted: what cameras, phones and browsers produce.
FORMATS = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
    "GIF": "image/gif",
}

#: What an image's id (the SHA-256 of its bytes, lowercase hex) looks like.
SHA256_PATTERN = r"^[0-9a-f]{64}$"

# Our own pixel limit applies (per settings); Pillow's global one would raise elsewhere.
Image.MAX_IMAGE_PIXELS = None

#: EXIF orientations that turn the image a quarter (its width and height swap).
QUARTER_TURNS = frozenset({5, 6, 7, 8})

#: Decodes one process runs at once unless told otherwise (the settings' default).
DEFAULT_DECODE_CONCURRENCY: int = Settings().decode_concurrency
#: JPEG scale of the API's check (libjpeg's smallest, 1/8): it keeps no pixels.
CHECK_SCALE = 8

_slots_lock = threading.Lock()
_slots: threading.BoundedSemaphore | None = None


@contextmanager
def decode_slot(concurrency: int = DEFAULT_DECODE_CONCURRENCY) -> Iterator[None]:
    """One of the process's decode slots, waited for (threads: the API's executor, worker threads).

    The first caller sizes the process's semaphore; later sizes are ignored, so
    every decode of the process shares one bound.
    """
    global _slots
    with _slots_lock:
        if _slots is None:
            _slots = threading.BoundedSemaphore(max(1, concurrency))
        slots = _slots
    with slots:
        yield


class NotAnImage(InvalidImage):
    """The bytes are not an image of a supported format (HTTP 415)."""

    code = "not_an_image"


class ImageTooLarge(InvalidImage):
    """The image decodes to more pixels than allowed: a decompression bomb (HTTP 422)."""

    code = "image_too_large"


class CorruptImage(InvalidImage):
    """The header is fine but the data is truncated or damaged (HTTP 422)."""

    code = "corrupt_image"


@dataclass(frozen=True, slots=True)
class ImageInfo:
    sha256: str
    format: str
    width: int
    height: int

    @property
    def media_type(self) -> str:
        return FORMATS[self.format]


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """Read the header only: format and size are known before any pixel is decoded."""
    try:
        image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise NotAnImage(f"not an image of a supported format ({', '.join(FORMATS)})") from None
    if image.format not in FORMATS:
        raise NotAnImage(f"{image.format} images are not supported; send one of {', '.join(FORMATS)}")
    width, height = image.size
    if width < 1 or height < 1:
        raise CorruptImage(f"image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"image is {width}x{height} = {width * height} pixels; at most {max_pixels} allowed"
        )
    return image


def _load(image: Image.Image) -> None:
    """Decode every pixel; truncated or damaged data is CorruptImage."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # Pillow warns, not raises, on some damaged files
            image.load()
    except (OSError, ValueError, SyntaxError, Warning, Image.DecompressionBombError) as exc:
        raise CorruptImage(f"image data is damaged or truncated: {exc}") from None


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decoded image, perhaps at a reduced size, and what its pixels stand for."""

    #: RGB, upright.
    image: Image.Image
    #: Pixels of the image as stored per pixel of ``image`` (1, 2, 4 or 8).
    scale: int
    #: The stored image's upright size.
    width: int
    height: int


def decode(data: bytes, max_pixels: int, *, concurrency: int = DEFAULT_DECODE_CONCURRENCY) -> Image.Image:
    """The image as RGB, upright per its EXIF orientation; truncated data is an error.

    Full size (results are in the image's own coordinates); copies only when the
    photo must be turned or its mode converted, in one of the process's decode slots.
    """
    return decode_reduced(data, max_pixels, 0, concurrency=concurrency).image


def decode_reduced(
    data: bytes, max_pixels: int, at_least: int, *, concurrency: int = DEFAULT_DECODE_CONCURRENCY
) -> Decoded:
    """As :func:`decode`, but a JPEG whose longest side is over ``at_least`` pixels (0: never)
    is decoded at the smallest of libjpeg's scales (1/2, 1/4, 1/8) that keeps that side at
    ``at_least`` or more: the face worker needs no more pixels (issue 25), and a scaled
    decode skips most of the inverse DCT and colour conversion, with less memory.
    """
    image = _open(data, max_pixels)
    width, height = image.size
    scale = 1
    if at_least and image.format == "JPEG" and max(width, height) > at_least:
        share = at_least / max(width, height)
        drafted = image.draft(image.mode, (math.ceil(width * share), math.ceil(height * share)))
        scale = 1 if drafted is None else round(width / drafted[1][2])
    with decode_slot(concurrency):
        _load(image)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                quarter = image.getexif().get(ExifTags.Base.Orientation, 1) in QUARTER_TURNS
                ImageOps.exif_transpose(image, in_place=True)  # no copy when already upright
        except (OSError, ValueError, SyntaxError, Warning) as exc:
            raise CorruptImage(f"image data is damaged or truncated: {exc}") from None
        if quarter:  # upright, the stored image's sides swap too
            width, height = height, width
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        return Decoded(rgb, scale, width, height)


def inspect(data: bytes, max_pixels: int, *, concurrency: int = DEFAULT_DECODE_CONCURRENCY) -> ImageInfo:
    """Check an upload completely (header, pixel limit, every byte decoded) and describe it.

    A JPEG is decoded at 1/8 scale: libjpeg still reads and entropy-decodes every
    block, so damage and truncation show, in 1/64 of the memory. Other formats
    are decoded once, at full size, with no copies.
    """
    image = _open(data, max_pixels)
    fmt, size = str(image.format), image.size
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            image.getexif()  # what the worker's exif_transpose reads: damage shows here, not there
    except (OSError, ValueError, SyntaxError, Warning) as exc:
        raise CorruptImage(f"image metadata is damaged: {exc}") from None
    with decode_slot(concurrency):
        if fmt == "JPEG":
            image.draft(image.mode, (max(1, size[0] // CHECK_SCALE), max(1, size[1] // CHECK_SCALE)))
        _load(image)
        image.close()
    return ImageInfo(sha256_of(data), fmt, *size)


def media_type(data: bytes) -> str:
    """Content type of stored bytes, from their header; octet-stream if unrecognised."""
    try:
        return FORMATS.get(str(Image.open(io.BytesIO(data)).format), "application/octet-stream")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return "application/octet-stream"


#: Expired images one store call forgets at most (bounds the call's time).
PRUNE_BATCH = 100


def store_call(sha256: str, data: bytes, settings: Settings) -> Call[int]:
    """Store an image with its TTL within the images' quota; raises ImageStoreFull past it."""
    return Call(
        Lua.IMAGE_STORE,
        [keys.image_key(sha256), keys.IMAGES, keys.IMAGE_SIZES, keys.IMAGE_BYTES],
        [sha256, data, settings.image_ttl_s * 1000, settings.image_quota_bytes, PRUNE_BATCH],
        int,
    )
