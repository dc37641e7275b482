"""Cron expressions read in a time zone (issue 21's schedules).

cronsim parses and iterates (5 fields; it is maintained, typed and handles
daylight-saving days as cron does); the usual ``@hourly``-style aliases are expanded
here, since cronsim takes fields only. Time zones are IANA names through zoneinfo, so
"0 3 * * *" in Europe/Berlin stays at 03:00 across daylight-saving changes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from shared.errors import InvalidSchedule

#: Most characters of a cron expression and of a time zone name.
MAX_CRON = 120
MAX_TIMEZONE = 64
#: The aliases croniter and Vixie cron accept, as the 5-field expressions they stand for.
ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def cron_fields(cron: str) -> str:
    """The 5-field form of ``cron`` (aliases expanded); InvalidSchedule when it is not one."""
    text = " ".join(cron.split())
    text = ALIASES.get(text.lower(), text)
    if len(cron) > MAX_CRON or len(text.split(" ")) != 5:
        raise InvalidSchedule(f"cron {cron!r}: expected 5 fields or one of {', '.join(ALIASES)}")
    try:
        CronSim(text, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        raise InvalidSchedule(f"cron {cron!r}: {exc}") from None
    return text


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; InvalidSchedule when it is unknown."""
    if not name or len(name) > MAX_TIMEZONE or name.startswith(("/", ".")) or ".." in name:
        raise InvalidSchedule(f"unknown time zone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidSchedule(f"unknown time zone {name!r}") from None


def next_after(cron: str, timezone: str, after_ms: int) -> int:
    """The first fire time (ms) strictly after ``after_ms`` of ``cron`` read in ``timezone``."""
    start = datetime.fromtimestamp(after_ms / 1000, zone(timezone))
    return int(next(CronSim(cron_fields(cron), start)).timestamp() * 1000)


def count_between(cron: str, timezone: str, after_ms: int, before_ms: int, most: int) -> int:
    """Fire times strictly after ``after_ms`` and before ``before_ms``, counted up to ``most``."""
    n = 0
    for when in CronSim(cron_fields(cron), datetime.fromtimestamp(after_ms / 1000, zone(timezone))):
        if when.timestamp() * 1000 >= before_ms or n >= most:
            break
        n += 1
    return n
