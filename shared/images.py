"""Uploaded images: checked before they are stored, decoded safely when they are used.

The API inspects an upload (format, size, pixel count, full decode) so bad input
is refused with a 4xx there; the worker decodes again with the same limits, since
a producer other than the API may have stored the bytes.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

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


def decode(data: bytes, max_pixels: int) -> Image.Image:
    """The image as RGB, upright per its EXIF orientation; truncated data is an error."""
    image = _open(data, max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # Pillow warns, not raises, on some damaged files
            image.load()
            upright = ImageOps.exif_transpose(image)
    except (OSError, ValueError, SyntaxError, Warning, Image.DecompressionBombError) as exc:
        raise CorruptImage(f"image data is damaged or truncated: {exc}") from None
    return upright.convert("RGB")


def inspect(data: bytes, max_pixels: int) -> ImageInfo:
    """Check an upload completely (header, pixel limit, full decode) and describe it."""
    image = _open(data, max_pixels)
    fmt = str(image.format)
    decode(data, max_pixels)
    return ImageInfo(sha256_of(data), fmt, *image.size)


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
