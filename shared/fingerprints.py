"""Failure fingerprints (issue 20): which failures share a cause.

A fingerprint is the first 16 hex digits of the SHA-1 of the actor, the exception's type and
its innermost frames (file name and function: line numbers, hex addresses and other numbers
stripped), so the same bug failing on different jobs, lines shifted by an edit, or objects at
other addresses, lands in one group. An actor may choose its own: an exception attribute
``fingerprint`` (``raise Timeout(...)`` with ``exc.fingerprint = "upstream-timeout"``) or a
message option ``fingerprint`` (``actor.send_with_options(..., fingerprint="...")``); a valid
one (``[A-Za-z0-9_.-]{1,64}``) is used as is, anything else is hashed.
"""

from __future__ import annotations

import hashlib
import os
import re
import traceback
from collections.abc import Mapping
from typing import Any

#: Innermost frames that identify a failure (deeper callers vary with how it was reached).
TOP_FRAMES = 5
#: Hex digits kept of the SHA-1.
DIGITS = 16
#: What a chosen fingerprint may look like (it becomes part of Redis key names).
CHOSEN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
#: Numbers, hex addresses and quoted values stripped from traceback text.
_NOISE = re.compile(r"0x[0-9a-fA-F]+|\d+|'[^']*'|\"[^\"]*\"")


def normalise(text: str) -> str:
    """A traceback line with its line numbers, addresses, ids and quoted values taken out."""
    return _NOISE.sub("#", text).strip()


def frames_of(exc: BaseException) -> list[str]:
    """The innermost frames of ``exc`` as ``file:function`` (no paths, no line numbers)."""
    frames = traceback.extract_tb(exc.__traceback__)[-TOP_FRAMES:]
    return [normalise(f"{os.path.basename(f.filename)}:{f.name}") for f in frames]


def frames_of_text(text: str) -> list[str]:
    """The innermost ``File ..., in ...`` lines of a formatted traceback, normalised."""
    found = re.findall(r'File "([^"]+)", line \d+, in (\S+)', text)
    return [normalise(f"{os.path.basename(path)}:{name}") for path, name in found[-TOP_FRAMES:]]


def exception_name(exc: BaseException | None, error_line: str = "") -> str:
    """The exception's qualified type name, or the type an error line starts with."""
    if exc is not None:
        kind = type(exc)
        return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    return error_line.split(":", 1)[0].strip() or "Error"


def chosen(exc: BaseException | None, options: Mapping[str, Any]) -> str | None:
    """The fingerprint the actor chose (exception attribute first, then message option), if any."""
    for value in (getattr(exc, "fingerprint", None), options.get("fingerprint")):
        if isinstance(value, str) and value:
            return value if CHOSEN.match(value) else digest(value)
    return None


def digest(*parts: str) -> str:
    return hashlib.sha1("\n".join(parts).encode(), usedforsecurity=False).hexdigest()[:DIGITS]


def fingerprint(
    actor: str,
    exc: BaseException | None,
    *,
    error_line: str = "",
    traceback_text: str = "",
    options: Mapping[str, Any] | None = None,
) -> tuple[str, str]:
    """(fingerprint, exception type name) of one failure."""
    name = exception_name(exc, error_line)
    own = chosen(exc, options or {})
    if own is not None:
        return own, name
    frames = (
        frames_of(exc)
        if exc is not None and exc.__traceback__ is not None
        else frames_of_text(traceback_text)
    )
    return digest(actor, name, *frames), name
