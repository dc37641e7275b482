"""Typed records read from Redis hashes: one way to turn ``HGETALL`` text into fields."""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def from_hash(cls: Callable[..., T], fields: Mapping[str, str], **given: Any) -> T:
    """``cls`` built from a hash's fields, by its type hints: a ``str`` field is read as is
    (absent: ``""``), an ``int`` parsed (absent or empty: 0), an ``int | None`` parsed (absent
    or empty: None). Fields of any other type, or read another way, come in ``given``."""
    values = dict(given)
    for name, hint in typing.get_type_hints(cls).items():
        if name in values:
            continue
        raw = fields.get(name)
        if hint is str:
            values[name] = raw if raw is not None else ""
        elif hint is int:
            values[name] = int(raw) if raw else 0
        elif hint == int | None:
            values[name] = int(raw) if raw else None
    return cls(**values)
