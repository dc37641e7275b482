"""When a reaper may reap again after Redis was away (pure, no Redis)."""

from __future__ import annotations

import pytest

from shared.outage import ReapGrace

DEAD_S = 2.0


@pytest.mark.parametrize(
    ("events", "now", "may"),
    [
        # (monotonic time, "answered" | "failed") in order; then may_reap at ``now``?
        ([(0.0, "answered"), (0.5, "answered")], 0.5, True),  # never away: reap at once
        ([(0.0, "failed"), (1.0, "answered")], 2.9, False),  # failed: wait a dead-interval...
        ([(0.0, "failed"), (1.0, "answered")], 3.0, True),  # ...of healthy Redis
        # A call blocked 3 s in the client's retries, then answered: as good as a failure
        ([(0.0, "answered"), (3.0, "answered")], 3.5, False),
        ([(0.0, "answered"), (3.0, "answered"), (3.5, "answered")], 5.0, True),
        # Answers a little further apart than usual (a slow tick) are no outage
        ([(0.0, "answered"), (0.9, "answered")], 0.9, True),
    ],
)
def test_reaping_waits_a_dead_interval_after_redis_was_away(
    events: list[tuple[float, str]], now: float, may: bool
) -> None:
    grace = ReapGrace(DEAD_S)
    for at, what in events:
        grace.answered(at) if what == "answered" else grace.failed()
    assert grace.may_reap(now) is may
