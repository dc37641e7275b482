"""``@scheduled``: a schedule declared next to its actor, checked when declared (no Redis)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from shared.errors import InvalidSchedule
from shared.schedules import DECLARED, scheduled


@dataclass
class Actor:
    """What a Dramatiq actor offers the decorator."""

    actor_name: str
    queue_name: str


@pytest.fixture(autouse=True)
def declared() -> Iterator[None]:
    before = dict(DECLARED)
    yield
    DECLARED.clear()
    DECLARED.update(before)


def test_a_declaration_is_registered_as_code_with_its_actor_and_queue() -> None:
    actor = Actor("reindex", "maintenance")
    assert scheduled("nightly", "@daily", args=[1], timezone="Europe/Berlin")(actor) is actor
    s = DECLARED["nightly"]
    assert (s.actor, s.queue, s.args, s.source, s.timezone, s.misfire) == (
        "reindex",
        "maintenance",
        [1],
        "code",
        "Europe/Berlin",
        "skip",
    )


@pytest.mark.parametrize(
    ("name", "cron", "tz", "args"),
    [
        ("bad-cron", "61 * * * *", "UTC", ()),
        ("bad-zone", "@daily", "Mars/Olympus", ()),
        ("bad:name", "@daily", "UTC", ()),
        ("by-name", "@daily", "UTC", {"x": 1}),  # the actor is not in the catalog
    ],
)
def test_a_bad_declaration_fails_at_import(name: str, cron: str, tz: str, args: object) -> None:
    with pytest.raises(InvalidSchedule):
        scheduled(name, cron, timezone=tz, args=args)(Actor("reindex", "maintenance"))  # type: ignore[arg-type]
    assert name not in DECLARED
