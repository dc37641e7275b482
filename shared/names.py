"""Queue and gallery names: one strict pattern, so a name can never reach into another key.

A name becomes part of Redis keys (``fq:q:<queue>:<state>``, Dramatiq's
``dramatiq:<queue>.msgs``), URLs and the dashboard. ``.`` and ``:`` are refused:
with them an admin could pause ``x.msgs`` or ``q:waiting`` and name a key of
another type, which made every monitor tick fail on WRONGTYPE (issue 16).
"""

from __future__ import annotations

import re

#: Longest queue or gallery name, in characters.
MAX_NAME_LENGTH = 64
#: Queue and gallery names: letters, digits, ``_`` and ``-``; no ``.`` or ``:``.
NAME_PATTERN = rf"^[A-Za-z0-9_-]{{1,{MAX_NAME_LENGTH}}}$"
#: What a refusal says about the pattern, for people.
NAME_RULE = f"1-{MAX_NAME_LENGTH} letters, digits, _ or -"

_NAME = re.compile(NAME_PATTERN)


def is_valid_name(name: str) -> bool:
    """True when ``name`` may be used as a queue or gallery name."""
    # fullmatch, not match: with match, ``$`` also accepts a trailing newline.
    return _NAME.fullmatch(name) is not None
