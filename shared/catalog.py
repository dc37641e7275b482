"""The actor catalog: names, queues and argument schemas of every actor.

It lives in shared/ so the API can validate and enqueue a job whose code only
the worker has; the worker checks at boot that it implements every entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.errors import InvalidArguments, UnknownActor
from shared.face_jobs import FACE_QUEUE, EnrollRequest, SearchRequest

#: Queue of the canary actors operators use to check a deployment end to end.
DIAGNOSTICS_QUEUE = "diagnostics"


@dataclass(frozen=True, slots=True)
class Param:
    """One positional argument of an actor."""

    name: str
    #: JSON type: "string", "number", "integer", "boolean", "object" or "array".
    type: str
    required: bool = True
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    doc: str = ""
    #: Deeper check of the value (raises InvalidArguments), for structured arguments.
    validator: Callable[[Any], object] | None = None

    def check(self, value: Any) -> None:
        if not _TYPE_CHECKS[self.type](value):
            raise InvalidArguments(f"{self.name}: expected {self.type}, got {type(value).__name__}")
        if self.minimum is not None and value < self.minimum:
            raise InvalidArguments(f"{self.name}: must be >= {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise InvalidArguments(f"{self.name}: must be <= {self.maximum}")
        if self.max_length is not None and len(value) > self.max_length:
            raise InvalidArguments(f"{self.name}: longer than {self.max_length}")
        if self.validator is not None:
            self.validator(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "number": _is_number,
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


@dataclass(frozen=True, slots=True)
class Searchable:
    """A value inside an actor's arguments or result that job search indexes (issue 23).

    The transition scripts add ``<name> US <value> US <job id>`` (US: the 0x1f separator) to
    the search index when the job is created (``args``) or completes (``result``), so
    ``<name>:<value>`` is answered from the index instead of by scanning records.
    """

    #: Field name in queries (``gallery:demo``), shared by every actor that declares it.
    name: str
    #: Where the value lives: the parameter's name then keys inside it (``args``), or keys
    #: inside the result (``result``); ``*`` stands for every element of a list.
    path: tuple[str, ...]
    source: str = "args"
    #: A value may be searched by its start (``image:3fa2``): digests are long.
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class ActorSpec:
    """What a producer needs to know to enqueue an actor's job."""

    name: str
    queue: str
    params: tuple[Param, ...] = ()
    doc: str = ""
    #: Dramatiq actor options (retry backoff etc.) the worker applies.
    options: Mapping[str, Any] = field(default_factory=dict)
    #: Values job search indexes (shared/search.py).
    searchable: tuple[Searchable, ...] = ()

    def bind(self, args: Sequence[Any] | Mapping[str, Any]) -> list[Any]:
        """Validate arguments (positional or by name) into the positional list a message carries."""
        if isinstance(args, Mapping):
            unknown = set(args) - {p.name for p in self.params}
            if unknown:
                raise InvalidArguments(f"unknown arguments: {', '.join(sorted(unknown))}")
            values = [args[p.name] for p in self.params if p.name in args]
            missing = [p.name for p in self.params if p.name not in args]
            if any(p.required for p in self.params if p.name in missing):
                raise InvalidArguments(f"missing arguments: {', '.join(missing)}")
        else:
            values = list(args)
            if len(values) > len(self.params):
                raise InvalidArguments(f"{self.name} takes at most {len(self.params)} arguments")
            required = sum(1 for p in self.params if p.required)
            if len(values) < required:
                raise InvalidArguments(f"{self.name} needs {required} arguments, got {len(values)}")
        for param, value in zip(self.params, values, strict=False):
            param.check(value)
        return values

    def schema(self) -> dict[str, Any]:
        """JSON Schema of the arguments object, for OpenAPI."""
        props: dict[str, Any] = {}
        for p in self.params:
            prop: dict[str, Any] = {"type": p.type, "description": p.doc}
            if p.minimum is not None:
                prop["minimum"] = p.minimum
            if p.maximum is not None:
                prop["maximum"] = p.maximum
            if p.max_length is not None:
                prop["maxLength"] = p.max_length
            props[p.name] = prop
        return {
            "type": "object",
            "properties": props,
            "required": [p.name for p in self.params if p.required],
            "additionalProperties": False,
        }


#: Canary actors: retries back off in 100 ms, not Dramatiq's 15 s, so a
#: deployment check finishes quickly.
_CANARY_OPTIONS: Mapping[str, Any] = {"min_backoff": 100, "max_backoff": 2_000}

#: Every actor a facequeue worker runs, by name.
CATALOG: Mapping[str, ActorSpec] = {
    spec.name: spec
    for spec in (
        ActorSpec(
            "noop",
            DIAGNOSTICS_QUEUE,
            doc="Does nothing; measures the queue's own overhead.",
            options=_CANARY_OPTIONS,
        ),
        ActorSpec(
            "sleep",
            DIAGNOSTICS_QUEUE,
            (Param("seconds", "number", minimum=0, maximum=3600, doc="How long to sleep."),),
            doc="Sleeps, reporting progress; simulates a long job.",
            options=_CANARY_OPTIONS,
        ),
        ActorSpec(
            "fail",
            DIAGNOSTICS_QUEUE,
            (
                Param("message", "string", required=False, max_length=1000, doc="Error message."),
                Param(
                    "kind",
                    "string",
                    required=False,
                    max_length=32,
                    doc="Exception raised: canary (default), value, key, timeout or runtime.",
                ),
            ),
            doc="Raises, exercising retries, the failed state and failure groups.",
            options=_CANARY_OPTIONS,
        ),
        ActorSpec(
            "face_search",
            FACE_QUEUE,
            (
                Param(
                    "request",
                    "object",
                    doc="image (SHA-256 of a stored image), gallery, top_k, threshold.",
                    validator=SearchRequest.from_arg,
                ),
            ),
            doc="Detects every face in an image and finds each one's best matches in a gallery.",
            searchable=(
                Searchable("gallery", ("request", "gallery")),
                Searchable("image", ("request", "image"), prefix=True),
                Searchable("match", ("faces", "*", "matches", "*", "name"), source="result"),
            ),
        ),
        ActorSpec(
            "enroll",
            FACE_QUEUE,
            (
                Param(
                    "request",
                    "object",
                    doc="image (SHA-256 of a stored image), gallery, name.",
                    validator=EnrollRequest.from_arg,
                ),
            ),
            doc="Embeds the largest face of an image and adds it to a gallery under a name.",
            searchable=(
                Searchable("gallery", ("request", "gallery")),
                Searchable("image", ("request", "image"), prefix=True),
                Searchable("name", ("request", "name")),
            ),
        ),
    )
}


def lookup(actor: str, queue: str | None = None) -> ActorSpec:
    """The catalog entry of an actor, checking its queue when one is named."""
    spec = CATALOG.get(actor)
    if spec is None:
        raise UnknownActor(f"unknown actor {actor!r}")
    if queue is not None and queue != spec.queue:
        raise UnknownActor(f"actor {actor!r} runs on queue {spec.queue!r}, not {queue!r}")
    return spec


def queues() -> list[str]:
    """Every queue some actor runs on."""
    return sorted({spec.queue for spec in CATALOG.values()})
