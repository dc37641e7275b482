"""Arguments of the ``face_search`` and ``enroll`` jobs, checked the same way by API and worker.

Each job carries one object argument; the image travels as the SHA-256 of bytes
stored in Redis (``keys.image_key``), never inlined into the Dramatiq message.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from shared.errors import InvalidArguments
from shared.images import SHA256_PATTERN
from shared.names import NAME_PATTERN, is_valid_name

#: Queue of both face actors.
FACE_QUEUE = "face_search"
#: Matches returned per face unless asked otherwise.
DEFAULT_TOP_K = 5
MAX_TOP_K = 100
#: OpenCV's same-person cosine threshold for SFace.
DEFAULT_THRESHOLD = 0.363
#: Longest identity name.
MAX_NAME = 200

_SHA256 = re.compile(SHA256_PATTERN)


def _fields(raw: Any, allowed: set[str], required: set[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InvalidArguments("expected one object argument")
    unknown = set(raw) - allowed
    if unknown:
        raise InvalidArguments(f"unknown fields: {', '.join(sorted(unknown))}")
    missing = required - set(raw)
    if missing:
        raise InvalidArguments(f"missing fields: {', '.join(sorted(missing))}")
    return raw


def _image(value: Any) -> str:
    if not isinstance(value, str) or not _SHA256.match(value):
        raise InvalidArguments("image: expected the SHA-256 (64 lowercase hex digits) of a stored image")
    return value


def _gallery(value: Any) -> str:
    if not isinstance(value, str) or not is_valid_name(value):
        raise InvalidArguments(f"gallery: expected a name matching {NAME_PATTERN}")
    return value


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """Find every face in an image and, with a gallery, who each one is."""

    image: str
    gallery: str | None = None
    top_k: int = DEFAULT_TOP_K
    threshold: float = DEFAULT_THRESHOLD

    @classmethod
    def from_arg(cls, raw: Any) -> SearchRequest:
        data = _fields(raw, {"image", "gallery", "top_k", "threshold"}, {"image"})
        top_k = data.get("top_k", DEFAULT_TOP_K)
        threshold = data.get("threshold", DEFAULT_THRESHOLD)
        if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= MAX_TOP_K:
            raise InvalidArguments(f"top_k: expected an integer from 1 to {MAX_TOP_K}")
        if not isinstance(threshold, int | float) or isinstance(threshold, bool) or not -1 <= threshold <= 1:
            raise InvalidArguments("threshold: expected a cosine similarity from -1 to 1")
        gallery = data.get("gallery")
        return cls(
            _image(data["image"]), None if gallery is None else _gallery(gallery), top_k, float(threshold)
        )

    def to_arg(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True, slots=True)
class EnrollRequest:
    """Add the largest face of an image to a gallery under a name."""

    image: str
    gallery: str
    name: str

    @classmethod
    def from_arg(cls, raw: Any) -> EnrollRequest:
        data = _fields(raw, {"image", "gallery", "name"}, {"image", "gallery", "name"})
        name = data["name"]
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
            raise InvalidArguments(f"name: expected a non-blank string of at most {MAX_NAME} characters")
        return cls(_image(data["image"]), _gallery(data["gallery"]), name.strip())

    def to_arg(self) -> dict[str, Any]:
        return asdict(self)
