"""Job search by content (issue 23): the query syntax, and the index entries the scripts keep.

A query is space-separated terms (values with spaces in double quotes)::

    state:failed queue:face_search actor:enroll id:0f3k   # record fields
    after:2h before:2026-12-02T10:00                      # time range (ago, ISO 8601 UTC or epoch s)
    gallery:demo image:3fa2 name:Alice match:Bob          # catalog fields (indexed)
    error:Timeout                                         # start of the error (its type is indexed)
    args.request.top_k:5  result.faces_found:2           # any value inside arguments or result
    enroll  0f3k                                          # a bare word: an actor, or an id's start

A value ending in ``*`` matches by its start (``image:`` fields always do). Terms combine with
AND. One indexed term drives the search from ``fq:search`` (every match is a candidate); without
one, the newest jobs are scanned within a budget and the answer says how many were searched.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared import keys
from shared.catalog import CATALOG, Searchable
from shared.errors import BadQuery
from shared.states import JobState

#: Separates field, value and job id in a search index member (ASCII unit separator).
SEP = "\x1f"
#: Longest value the index holds; longer ones are found by scanning.
MAX_INDEXED_VALUE = 200
#: Most terms in one query.
MAX_TERMS = 8
#: Field name of the indexed error type.
ERROR_FIELD = "error"

_ID_START = re.compile(r"[0-9a-z-]{1,64}")
_RELATIVE = re.compile(r"^(\d{1,6})([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_RECORD_FIELDS = {"state", "queue", "actor", "id", "after", "before"}


def _leaves(node: Any, path: Sequence[str]) -> Iterator[str]:
    """String forms of the scalar values at ``path`` (``*``: every element of a list)."""
    if not path:
        if isinstance(node, bool):
            yield "true" if node else "false"
        elif isinstance(node, str | int | float):
            yield str(node)
        return
    step, rest = path[0], path[1:]
    if step == "*":
        for child in node if isinstance(node, list) else []:
            yield from _leaves(child, rest)
    elif isinstance(node, dict) and step in node:
        yield from _leaves(node[step], rest)


def _entries(fields: Sequence[Searchable], root: Any) -> list[str]:
    out: dict[str, None] = {}
    for f in fields:
        for value in _leaves(root, f.path):
            if 0 < len(value) <= MAX_INDEXED_VALUE:
                out[f"{f.name}{SEP}{value}"] = None
    return list(out)


def arg_entries(actor: str, args: Sequence[Any]) -> list[str]:
    """``<field> SEP <value>`` of each searchable argument value (job_submit.lua appends the id)."""
    spec = CATALOG.get(actor)
    if spec is None:
        return []
    named = {p.name: value for p, value in zip(spec.params, args, strict=False)}
    return _entries([f for f in spec.searchable if f.source == "args"], named)


def result_entries(actor: str, result: Any) -> list[str]:
    """Entries of each searchable result value (job_complete.lua appends the id)."""
    spec = CATALOG.get(actor)
    if spec is None:
        return []
    return _entries([f for f in spec.searchable if f.source == "result"], result)


def error_type(error: str) -> str:
    """The exception type an error line starts with (``TimeoutError: ...``), lower case."""
    head = error.split(":", 1)[0].strip().lower()
    return head if head and " " not in head and len(head) <= MAX_INDEXED_VALUE else ""


def error_entries(error: str) -> list[str]:
    """The error's type as an index entry (job_fail.lua appends the id)."""
    kind = error_type(error)
    return [f"{ERROR_FIELD}{SEP}{kind}"] if kind else []


def id_at(ms: int) -> str:
    """The smallest job id created at ``ms`` (ids are 48 bits of ms then 32 random bits)."""
    value, chars = max(ms, 0) << 32, []
    for _ in range(16):
        value, digit = divmod(value, 32)
        chars.append(_ID_ALPHABET[digit])
    return "".join(reversed(chars))


def parse_time(text: str, now_s: float) -> int:
    """ms of ``2h`` (ago), ``2026-12-02T10:00`` (UTC unless it says) or epoch seconds."""
    relative = _RELATIVE.match(text)
    if relative:
        return int((now_s - int(relative[1]) * _UNIT_S[relative[2]]) * 1000)
    if re.fullmatch(r"\d{9,11}(\.\d+)?", text):
        return int(float(text) * 1000)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadQuery(f"time {text!r}: expected 15m, 2h, 7d, an ISO 8601 time or epoch seconds") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class Term:
    """One content condition: a value at some paths of a record (per actor; ``*``: any actor)."""

    name: str
    #: "args", "result" or "error".
    source: str
    value: str
    prefix: bool
    #: Lua paths: the first step names the record field, numbers are 1-based list indexes.
    paths: dict[str, list[list[str | int]]] = field(default_factory=dict)
    #: True when the search index holds this field.
    indexed: bool = False

    def lua(self) -> dict[str, Any]:
        return {"src": self.source, "value": self.value, "prefix": self.prefix, "paths": self.paths}


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed search: record filters and content terms."""

    queue: str = ""
    state: str = ""
    actor: str = ""
    id_prefix: str = ""
    after_ms: int | None = None
    before_ms: int | None = None
    terms: tuple[Term, ...] = ()

    @property
    def driver(self) -> Term | None:
        """The indexed term the search starts from, if any."""
        return next((t for t in self.terms if t.indexed), None)


def _catalog_fields() -> dict[str, list[tuple[str, Searchable]]]:
    by_name: dict[str, list[tuple[str, Searchable]]] = {}
    for spec in CATALOG.values():
        for f in spec.searchable:
            by_name.setdefault(f.name, []).append((spec.name, f))
    return by_name


def _lua_path(actor: str, f: Searchable) -> list[str | int]:
    if f.source == "result":
        return ["result", *f.path]
    names = [p.name for p in CATALOG[actor].params]
    return ["args", names.index(f.path[0]) + 1, *f.path[1:]]


def _catalog_term(name: str, value: str) -> Term | None:
    """A term on a catalog field, by its name or its full spelling (``args.request.gallery``)."""
    for field_name, owners in _catalog_fields().items():
        spellings = {field_name}
        for _, f in owners:
            spellings |= {f"{f.source}.{'.'.join(f.path)}"}
            if f.source == "args":
                spellings.add(f"args.{'.'.join(f.path[1:])}")
        if name in spellings:
            prefix = value.endswith("*") or any(f.prefix for _, f in owners)
            paths: dict[str, list[list[str | int]]] = {}
            for actor, f in owners:
                paths.setdefault(actor, []).append(_lua_path(actor, f))
            clean = value.rstrip("*")
            indexed = len(clean) <= MAX_INDEXED_VALUE
            return Term(field_name, owners[0][1].source, clean, prefix, paths, indexed)
    return None


def _adhoc_term(name: str, value: str) -> Term:
    """``args.a.b`` / ``result.a.b``: any value there, found by scanning."""
    source, _, rest = name.partition(".")
    steps: list[str | int] = [s for s in rest.split(".") if s]
    if not steps:
        raise BadQuery(f"{name}: name a field, as in {source}.gallery")
    paths: dict[str, list[list[str | int]]] = {}
    if source == "args":
        paths["*"] = [["args", "*", *steps]]  # a field of any object argument
        for spec in CATALOG.values():  # or an argument by its catalog name
            names = [p.name for p in spec.params]
            if steps[0] in names:
                paths[spec.name] = [["args", names.index(str(steps[0])) + 1, *steps[1:]]]
    else:
        paths["*"] = [["result", *steps]]
    return Term(name, source, value.rstrip("*"), value.endswith("*"), paths)


def _term(name: str, value: str) -> Term:
    if not value.rstrip("*"):
        raise BadQuery(f"{name}: needs a value")
    if name == ERROR_FIELD:
        clean = value.rstrip("*").lower()
        indexed = bool(error_type(clean)) and ":" not in clean
        return Term(ERROR_FIELD, "error", clean, True, {}, indexed)
    catalog_term = _catalog_term(name, value)
    if catalog_term is not None:
        return catalog_term
    if name.startswith(("args.", "result.")):
        return _adhoc_term(name, value)
    known = sorted({*_RECORD_FIELDS, ERROR_FIELD, *_catalog_fields()})
    raise BadQuery(f"unknown field {name!r}: use one of {', '.join(known)}, args.<path> or result.<path>")


def parse(text: str, now_s: float | None = None) -> Query:
    """Parse a query (see the module docstring); raises :class:`BadQuery`."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise BadQuery(f"query: {exc}") from None
    now = time.time() if now_s is None else now_s
    record: dict[str, Any] = {}
    terms: list[Term] = []
    for word in words:
        name, colon, value = word.partition(":")
        if not colon:
            if word not in CATALOG and not _ID_START.fullmatch(word.lower()):
                raise BadQuery(f"{word!r}: a bare word is an actor or the start of a job id")
            record["actor" if word in CATALOG else "id"] = word if word in CATALOG else word.lower()
        elif name in ("after", "before"):
            record[name] = parse_time(value, now)
        elif name == "state":
            if value not in {s.value for s in JobState}:
                raise BadQuery(f"state: one of {', '.join(s.value for s in JobState)}")
            record["state"] = value
        elif name in ("queue", "actor"):
            record[name] = value
        elif name == "id":
            record["id"] = value.lower()
        else:
            terms.append(_term(name, value))
    if len(terms) > MAX_TERMS:
        raise BadQuery(f"query: at most {MAX_TERMS} content terms")
    return Query(
        queue=record.get("queue", ""),
        state=record.get("state", ""),
        actor=record.get("actor", ""),
        id_prefix=record.get("id", ""),
        after_ms=record.get("after"),
        before_ms=record.get("before"),
        terms=tuple(terms),
    )


@dataclass(frozen=True, slots=True)
class Plan:
    """Where a search reads (a sorted set and a lex range in it) and what it checks."""

    source: str
    low: bytes
    high: bytes
    #: Members of ``source`` carry the job id after their last SEP.
    indexed: bool
    filters: str


def plan(query: Query) -> Plan:
    """The range to walk newest first, and the filters each record must pass."""
    filters = {
        "queue": query.queue,
        "state": query.state,
        "actor": query.actor,
        "id": query.id_prefix,
        "after": id_at(query.after_ms) if query.after_ms is not None else "",
        "before": id_at(query.before_ms) if query.before_ms is not None else "",
        "terms": [t.lua() for t in query.terms],
    }
    encoded = json.dumps(filters, separators=(",", ":"))
    driver = query.driver
    if driver is not None:
        head = f"{driver.name}{SEP}{driver.value}{'' if driver.prefix else SEP}".encode()
        return Plan(keys.SEARCH_INDEX, b"[" + head, b"[" + head + b"\xff", True, encoded)
    low, high = query.id_prefix, query.id_prefix + "~" if query.id_prefix else ""
    if query.after_ms is not None:
        low = max(low, id_at(query.after_ms))
    if query.before_ms is not None:
        edge = id_at(query.before_ms)
        high = min(high, edge) if high else edge
    return Plan(
        keys.JOBS_INDEX,
        b"[" + low.encode() if low else b"-",
        b"(" + high.encode() if high else b"+",
        False,
        encoded,
    )


def encode_cursor(member: str) -> str:
    """A cursor the API can hand out: the last member scanned, URL-safe."""
    return "s." + base64.urlsafe_b64encode(member.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> bytes:
    """The member a cursor names; raises :class:`BadQuery` for anything else."""
    if not cursor.startswith("s."):
        raise BadQuery("cursor: not a search cursor")
    body = cursor[2:]
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except ValueError:
        raise BadQuery("cursor: not a search cursor") from None
