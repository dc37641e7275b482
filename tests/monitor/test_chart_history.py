"""The charts' history tiers (issue 23): exact counts per bucket, run times, one write per bucket."""

from __future__ import annotations

import json

import pytest
import redis

from shared import history, keys, scripts, transitions
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.history import Tier
from shared.registry import Registry
from shared.submit import submit
from tests import typed_redis
from tests.conftest import EventTap, wait_for

#: A one-second tier, so a test waits for a bucket to close in about a second.
FAST = Tier("test", 1000, 60, 30)


def finish(registry: Registry, *, ok: bool) -> str:
    job_id = submit(registry, "noop")
    registry.run(transitions.dispatch(Q, 100))
    registry.run(transitions.start(job_id, Q, 0, "w"))
    if ok:
        assert registry.run(transitions.complete(job_id, Q, 0, "w", "null"))
    else:
        assert registry.run(transitions.fail(job_id, Q, 0, "w", "ValueError: no", ""))
    return job_id


def points(raw: redis.Redis) -> list[tuple[int, dict[str, dict[str, int]]]]:
    rows = typed_redis.xrange(raw, keys.history_key(FAST.name))
    return [(int(i.split("-")[0]), json.loads(f["queues"])) for i, f in rows]


def test_points_count_every_completion_and_failure_once_and_are_announced(
    registry: Registry, raw: redis.Redis, tap: EventTap
) -> None:
    # Given 5 completed and 2 failed jobs, and a waiting one
    for _ in range(5):
        finish(registry, ok=True)
    for _ in range(2):
        finish(registry, ok=False)
    submit(registry, "noop", delay_ms=60_000)
    now_ms = int(raw.time()[0]) * 1000

    # When the tier is written until its buckets cover now (each call writes closed buckets only)
    def covered() -> bool:
        registry.run(history.point_call(FAST, [Q]))
        return bool(points(raw)) and points(raw)[-1][0] > now_ms + 1000

    wait_for(covered, what="buckets closed")
    registry.run(history.point_call(FAST, [Q]))  # again: no bucket is written twice
    got = points(raw)
    # Then the buckets add up to the registry's counts, each bucket once, with run times and depth
    assert sum(q[Q]["completed"] for _, q in got) == 5
    assert sum(q[Q]["failed"] for _, q in got) == 2
    assert len({t for t, _ in got}) == len(got)
    assert any(q[Q]["p50_ms"] is not None for _, q in got)
    assert got[-1][1][Q]["waiting"] == 0  # the delayed one is not waiting
    # And each point went out as a `history` event
    wait_for(lambda: len(tap.of_type("history")) >= len(got), what="history events")
    assert {e.data["t"] for e in tap.of_type("history")} == {t for t, _ in got}


def test_a_call_out_of_time_leaves_the_later_buckets_to_the_next_and_none_is_lost(
    registry: Registry, raw: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a tier with many closed buckets to catch up on, and calls whose budget the first uses up
    finish(registry, ok=True)
    monkeypatch.setattr(scripts, "SCRIPT_BUDGET_US", 0)
    # When it is written call by call
    first = registry.run(history.point_call(FAST, [Q]))
    second = registry.run(history.point_call(FAST, [Q]))
    # Then each call wrote one bucket, the second right after the first
    assert (first, second) == (1, 1)
    (t1, _), (t2, _) = points(raw)
    assert t2 - t1 == FAST.step_ms
    # And with the budget back, the rest of the window follows in one call, each bucket once
    monkeypatch.undo()
    registry.run(history.point_call(FAST, [Q]))
    got = [t for t, _ in points(raw)]
    assert got == list(range(t1, got[-1] + 1, FAST.step_ms))
    assert len(got) >= FAST.catch_up  # the whole catch-up window, up to the newest closed bucket


def test_a_tier_keeps_at_most_its_points_the_newest(registry: Registry, raw: redis.Redis) -> None:
    # Given a tier that keeps 5 points, and one call that writes 40 (its catch-up window)
    small = Tier("cap", 1000, 5, 40)
    written = registry.run(history.point_call(small, [Q]))
    assert written > small.keep
    # Then the stream holds at most `keep` points, and they are the newest, one step apart
    rows = typed_redis.xrange(raw, keys.history_key(small.name))
    assert raw.xlen(keys.history_key(small.name)) <= small.keep
    got = [int(i.split("-")[0]) for i, _ in rows]
    assert len(got) == small.keep
    assert got == list(range(got[0], got[0] + small.keep * small.step_ms, small.step_ms))
    newest = int(raw.time()[0]) * 1000
    assert newest - got[-1] < 3 * small.step_ms
