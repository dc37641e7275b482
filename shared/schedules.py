"""Schedules: cron jobs whose every firing is a normal job linked to its schedule (issue 21).

Anchors: Oban's cron plugin, Hangfire's recurring jobs (with "trigger now") and BullMQ's
job schedulers. A schedule is a hash ``fq:schedule:<name>``, indexed by its next fire
time in ``fq:schedules``. The monitor fires what is due with schedule_fire.lua, which
creates the job and advances ``next_ms`` only if ``next_ms`` still holds the fire time
the monitor read: the firing of (schedule, fire time) happens once, however many
monitor replicas try it. Cron expressions are read by shared/cron.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from shared import catalog, keys, transitions
from shared.config import Settings
from shared.cron import count_between, cron_fields, next_after, zone
from shared.errors import InvalidArguments, InvalidSchedule
from shared.jobs import new_job_id
from shared.names import NAME_RULE, is_valid_name
from shared.scripts import Call, Lua
from shared.states import DEFAULT_PRIORITY, MAX_PRIORITY
from shared.submit import submit_call


class _Actor(Protocol):
    """What :func:`scheduled` reads of a Dramatiq actor."""

    actor_name: str
    queue_name: str


A = TypeVar("A", bound=_Actor)

#: What a schedule does with fire times missed beyond the grace (monitors down):
#: ``skip`` them all (the next one comes at its time), or ``run_once`` for all of them.
Misfire = Literal["skip", "run_once"]
MISFIRE_POLICIES: tuple[str, ...] = ("skip", "run_once")
#: Where a schedule was declared: through the API, or in code next to its actor.
Source = Literal["api", "code"]
#: Schedules fired per monitor call at most (the rest go next tick).
FIRE_BATCH = 100


@dataclass(frozen=True, slots=True)
class Schedule:
    """A schedule as stored; ``next_ms``/``last_ms``/``last_job`` are the monitor's."""

    name: str
    cron: str
    actor: str
    queue: str
    args: list[Any] | dict[str, Any] = field(default_factory=list)
    timezone: str = "UTC"
    priority: int = DEFAULT_PRIORITY
    enabled: bool = True
    misfire: str = "skip"
    source: str = "api"
    #: Next fire time (ms); 0 while disabled.
    next_ms: int = 0
    last_ms: int = 0
    last_job: str = ""
    #: Why the last due firing could not happen ("" once one did, or the schedule was saved).
    last_error: str = ""

    def check(self) -> Schedule:
        """Validated against cron, zone, policy and the actor catalog (like a submission)."""
        cron_fields(self.cron)
        zone(self.timezone)
        if self.misfire not in MISFIRE_POLICIES:
            raise InvalidSchedule(f"misfire must be one of {', '.join(MISFIRE_POLICIES)}")
        if not 0 <= self.priority <= MAX_PRIORITY:
            raise InvalidSchedule(f"priority must be within 0..{MAX_PRIORITY}")
        spec = catalog.lookup(self.actor, self.queue or None)  # UnknownActor: 422
        spec.bind(self.args)  # InvalidArguments: 422
        return self

    def fields(self) -> dict[str, str | int]:
        """The hash fields a save writes (not the monitor's next/last)."""
        return {
            "name": self.name,
            "cron": self.cron,
            "timezone": self.timezone,
            "actor": self.actor,
            "queue": self.queue,
            "args": json.dumps(self.args, separators=(",", ":")),
            "priority": self.priority,
            "enabled": int(self.enabled),
            "misfire": self.misfire,
            "source": self.source,
        }

    @classmethod
    def from_hash(cls, h: Mapping[str, str]) -> Schedule:
        return cls(
            name=h["name"],
            cron=h["cron"],
            actor=h["actor"],
            queue=h["queue"],
            args=json.loads(h.get("args") or "[]"),
            timezone=h.get("timezone", "UTC"),
            priority=int(h.get("priority") or DEFAULT_PRIORITY),
            enabled=h.get("enabled", "1") == "1",
            misfire=h.get("misfire", "skip"),
            source=h.get("source", "api"),
            next_ms=int(h.get("next_ms") or 0),
            last_ms=int(h.get("last_ms") or 0),
            last_job=h.get("last_job", ""),
            last_error=h.get("last_error", ""),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def save(
    schedule: Schedule, now_ms: int, *, mode: Literal["create", "update", "code"], who: str
) -> Call[int]:
    """Create or replace a schedule; its next fire time is computed from ``now_ms``.

    ``code``: a declaration published by a worker at start; it keeps an operator's pause,
    and its next fire time when cron and zone are unchanged.
    """
    next_ms = next_after(schedule.cron, schedule.timezone, now_ms) if schedule.enabled else 0
    pairs: list[str | int] = []
    for name, value in schedule.fields().items():
        pairs += [name, value]
    return Call(
        Lua.SCHEDULE_SAVE,
        [keys.schedule_key(schedule.name), keys.SCHEDULES, keys.AUDIT_STREAM],
        [schedule.name, who, mode, next_ms, now_ms, *pairs],
        int,
    )


def remove(name: str, *, who: str) -> Call[int]:
    """Delete a schedule (its past jobs stay)."""
    return Call(
        Lua.SCHEDULE_DELETE, [keys.schedule_key(name), keys.SCHEDULES, keys.AUDIT_STREAM], [name, who], int
    )


def record_error(name: str, expected_ms: int, next_ms: int, error: str) -> Call[int]:
    """A due schedule that cannot fire: keep ``error`` on it and move it to ``next_ms`` (0: parked).

    Keyed like a firing (``expected_ms`` is the ``next_ms`` read); 1 when recorded, 0 when
    another replica moved the schedule first.
    """
    return Call(
        Lua.SCHEDULE_ERROR,
        [keys.schedule_key(name), keys.SCHEDULES],
        [name, expected_ms, next_ms, error[:500]],
        int,
    )


@dataclass(frozen=True, slots=True)
class Firing:
    """What one call of schedule_fire.lua should do for a due schedule."""

    #: The ``next_ms`` the firing is keyed by (compare-and-set): another replica's firing changed it.
    expected_ms: int
    #: Whether a job is created (False: missed times skipped).
    fire: bool
    #: The fire time the job stands for.
    fire_ms: int
    #: The next fire time after this firing.
    next_ms: int
    #: Fire times missed beyond the grace (0 normally).
    missed: int


def plan(schedule: Schedule, now_ms: int, grace_ms: int) -> Firing | None:
    """The firing due at ``now_ms``, or None when nothing is due. Pure: the tests' clock drives it.

    A fire time no older than ``grace_ms`` fires as planned. Older ones were missed (no
    monitor ran): ``skip`` drops them (a recent one within the grace still fires),
    ``run_once`` fires once for all of them.
    """
    if not schedule.enabled or not schedule.next_ms or schedule.next_ms > now_ms:
        return None
    upcoming = next_after(schedule.cron, schedule.timezone, now_ms)
    if schedule.next_ms >= now_ms - grace_ms:
        return Firing(schedule.next_ms, True, schedule.next_ms, upcoming, 0)
    recent = next_after(schedule.cron, schedule.timezone, now_ms - grace_ms - 1)
    within = recent if recent <= now_ms else 0
    missed = _count_missed(schedule, now_ms - grace_ms)
    if schedule.misfire == "run_once":
        return Firing(schedule.next_ms, True, within or now_ms, upcoming, missed)
    return Firing(schedule.next_ms, bool(within), within or now_ms, upcoming, missed)


def _count_missed(schedule: Schedule, before_ms: int, most: int = 1000) -> int:
    """Fire times from ``next_ms`` up to ``before_ms`` (bounded: a long outage reports ``most``)."""
    return count_between(schedule.cron, schedule.timezone, schedule.next_ms - 1, before_ms, most)


def fire(
    schedule: Schedule, firing: Firing | None, submission: Call[str], *, who: str = "monitor"
) -> Call[str]:
    """One firing (None: "run now", which leaves ``next_ms`` alone) creating the job ``submission``
    (shared.submit.submit_call's call, so a fired job is validated and shaped like any other).

    Returns the job id, or '' when another replica fired this time first, or the missed
    times were skipped.
    """
    if submission.script is not Lua.JOB_SUBMIT:
        raise ValueError("a firing creates its job as job_submit.lua would")
    plan_args: list[str | int] = (
        [1, 0, 0, 1, 0, 0]
        if firing is None
        else [0, firing.expected_ms, firing.next_ms, int(firing.fire), firing.fire_ms, firing.missed]
    )
    return Call(
        Lua.SCHEDULE_FIRE,
        [keys.schedule_key(schedule.name), keys.SCHEDULES, keys.AUDIT_STREAM, *submission.keys],
        [schedule.name, who, *plan_args, *submission.args],
        str,
    )


def submission(schedule: Schedule, settings: Settings) -> Call[str]:
    """The job a firing creates, made as any submission is (validated, same message shape).

    An actor the catalog does not know (declared in code by a Dramatiq app) gets the
    plain message its own ``send()`` would make.
    """
    if schedule.actor in catalog.CATALOG:
        _, call = submit_call(
            schedule.actor,
            schedule.args,
            settings=settings,
            queue=schedule.queue or None,
            priority=schedule.priority,
        )
        return call
    if isinstance(schedule.args, dict):
        raise InvalidArguments(f"actor {schedule.actor!r} is not in the catalog: arguments must be a list")
    return transitions.submit(
        job_id=new_job_id(),
        queue=schedule.queue,
        actor=schedule.actor,
        args=schedule.args,
        priority=schedule.priority,
        max_retries=settings.default_max_retries,
        delay_ms=0,
    )


#: Schedules declared in code (see :func:`scheduled`), by name; published by workers at start.
DECLARED: dict[str, Schedule] = {}


def scheduled(
    name: str,
    cron: str,
    *,
    args: Sequence[Any] | Mapping[str, Any] = (),
    timezone: str = "UTC",
    priority: int = DEFAULT_PRIORITY,
    misfire: Misfire = "skip",
) -> Callable[[A], A]:
    """Declare a schedule next to its actor; workers publish it to Redis when they boot.

    ::

        @scheduled("nightly-reindex", "0 3 * * *", timezone="Europe/Berlin")
        @dramatiq.actor(queue_name="maintenance")
        def reindex() -> None: ...

    The API lists it with ``source: "code"``; operators may pause and run it, while its
    definition changes only in code.
    """

    def register(actor: A) -> A:
        declared = Schedule(
            name=name,
            cron=cron,
            actor=actor.actor_name,
            queue=actor.queue_name,
            args=dict(args) if isinstance(args, Mapping) else list(args),
            timezone=timezone,
            priority=priority,
            misfire=misfire,
            source="code",
        )
        cron_fields(cron)
        zone(timezone)
        if not is_valid_name(name):
            raise InvalidSchedule(f"schedule names are {NAME_RULE}")
        if isinstance(args, Mapping) and actor.actor_name not in catalog.CATALOG:
            raise InvalidSchedule(f"{name}: arguments by name need a catalog actor; pass a list")
        DECLARED[name] = declared
        return actor

    return register
