"""Cron parsing, time zones and the firing plan: pure, table-driven (no Redis)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from shared.cron import cron_fields, next_after
from shared.errors import InvalidSchedule
from shared.schedules import Firing, Schedule, plan


def ms(text: str, tz: str = "UTC") -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp() * 1000)


@pytest.mark.parametrize(
    ("cron", "fields"),
    [
        ("*/5 * * * *", "*/5 * * * *"),
        ("  0  3 * *   1-5 ", "0 3 * * 1-5"),
        ("@hourly", "0 * * * *"),
        ("@DAILY", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@yearly", "0 0 1 1 *"),
    ],
)
def test_cron_fields_expand_aliases(cron: str, fields: str) -> None:
    assert cron_fields(cron) == fields


@pytest.mark.parametrize(
    "cron", ["", "* * * *", "* * * * * *", "61 * * * *", "@often", "a b c d e", "x" * 200]
)
def test_bad_cron_is_refused(cron: str) -> None:
    with pytest.raises(InvalidSchedule):
        cron_fields(cron)


@pytest.mark.parametrize("tz", ["Mars/Olympus", "", "../etc/passwd", "/etc/localtime", "UTC" * 30])
def test_unknown_time_zone_is_refused(tz: str) -> None:
    with pytest.raises(InvalidSchedule):
        next_after("* * * * *", tz, 0)


@pytest.mark.parametrize(
    ("cron", "tz", "after", "expected"),
    [
        ("* * * * *", "UTC", "2026-01-01T00:00:00", "2026-01-01T00:01:00"),  # strictly after
        ("0 3 * * *", "Europe/Berlin", "2026-03-28T12:00:00", "2026-03-29T03:00:00"),  # DST day: 03:00 CEST
        ("0 3 * * *", "Europe/Berlin", "2026-01-10T04:00:00", "2026-01-11T03:00:00"),
        ("@hourly", "America/New_York", "2026-06-01T10:30:00", "2026-06-01T11:00:00"),
    ],
)
def test_next_after_reads_the_cron_in_its_zone(cron: str, tz: str, after: str, expected: str) -> None:
    assert next_after(cron, tz, ms(after, tz)) == ms(expected, tz)


def hourly(next_at: str, misfire: str = "skip") -> Schedule:
    return Schedule("s", "@hourly", "noop", "diagnostics", misfire=misfire, next_ms=ms(next_at))


GRACE = 60_000


@pytest.mark.parametrize(
    ("schedule", "now", "expected"),
    [
        # not due yet, or paused
        (hourly("2026-01-01T01:00:00"), "2026-01-01T00:59:59", None),
        (Schedule("s", "@hourly", "noop", "diagnostics", enabled=False), "2026-01-01T05:00:00", None),
        # due, on time or a few seconds late: fires for its own time
        (
            hourly("2026-01-01T01:00:00"),
            "2026-01-01T01:00:04",
            Firing(ms("2026-01-01T01:00:00"), True, ms("2026-01-01T01:00:00"), ms("2026-01-01T02:00:00"), 0),
        ),
        # monitors down from 00:30 to 05:30: skip fires nothing, next is 06:00
        (
            hourly("2026-01-01T01:00:00"),
            "2026-01-01T05:30:00",
            Firing(ms("2026-01-01T01:00:00"), False, ms("2026-01-01T05:30:00"), ms("2026-01-01T06:00:00"), 5),
        ),
        # ... run_once fires once for the five missed times
        (
            hourly("2026-01-01T01:00:00", "run_once"),
            "2026-01-01T05:30:00",
            Firing(ms("2026-01-01T01:00:00"), True, ms("2026-01-01T05:30:00"), ms("2026-01-01T06:00:00"), 5),
        ),
        # back just after 05:00: skip drops the old ones but 05:00 is within the grace, so it fires
        (
            hourly("2026-01-01T01:00:00"),
            "2026-01-01T05:00:30",
            Firing(ms("2026-01-01T01:00:00"), True, ms("2026-01-01T05:00:00"), ms("2026-01-01T06:00:00"), 4),
        ),
    ],
)
def test_plan_follows_the_misfire_policy(schedule: Schedule, now: str, expected: Firing | None) -> None:
    assert plan(schedule, ms(now), GRACE) == expected


def test_plan_of_a_long_outage_is_bounded() -> None:
    every_minute = Schedule("s", "* * * * *", "noop", "diagnostics", next_ms=ms("2020-01-01T00:00:00"))
    firing = plan(every_minute, ms("2026-01-01T00:00:00"), GRACE)
    assert firing is not None and firing.missed == 1000
    assert datetime.fromtimestamp(firing.next_ms / 1000, UTC).isoformat() == "2026-01-01T00:01:00+00:00"
