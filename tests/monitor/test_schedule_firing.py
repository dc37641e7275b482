"""Schedule firing against a real redis-server, on a simulated clock (issue 21).

Two ScheduleFirer instances, each on its own Redis connection as two monitor replicas
are, race for every firing; the monitor's own clock is replaced by the test's ``now``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis

from services.monitor.schedules import ScheduleFirer
from shared import keys
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.config import Settings
from shared.errors import ScheduleExists, ScheduleNotFound
from shared.registry import AsyncRegistry
from shared.schedules import FIRE_BATCH, Schedule, fire, remove, save, submission
from shared.submit import submit_async
from tests import typed_redis
from tests.helpers import events

#: 2026-01-01T00:00:10Z: ten seconds past a minute and an hour.
T0 = 1_767_225_610_000
MINUTE = 60_000


@pytest.fixture
async def monitors(settings: Settings) -> AsyncIterator[list[ScheduleFirer]]:
    registries = [AsyncRegistry(settings), AsyncRegistry(settings)]
    yield [ScheduleFirer(r) for r in registries]
    for r in registries:
        await r.close()


def scheduled_jobs(raw: redis.Redis, name: str) -> list[dict[str, str]]:
    jobs = [
        typed_redis.hgetall(raw, keys.job_key(j)) for j in typed_redis.zrange(raw, keys.JOBS_INDEX, 0, -1)
    ]
    return [j for j in jobs if j.get("schedule") == name]


async def test_every_minute_over_ten_minutes_with_two_monitors_fires_exactly_ten_times(
    monitors: list[ScheduleFirer], raw: redis.Redis
) -> None:
    # Given a schedule every minute, created at T0
    a, b = monitors
    every_minute = Schedule("tick", "* * * * *", "noop", Q)
    await a.registry.run(save(every_minute, T0, mode="create", who="test"))
    # When two monitors both tick every 5 s of a simulated 10-minute span, concurrently
    for now in range(T0, T0 + 10 * MINUTE + 1, 5000):
        await asyncio.gather(a.fire_due(now), b.fire_due(now))
    # Then it fired exactly 10 times, once per minute, each a normal waiting job linked to it
    jobs = scheduled_jobs(raw, "tick")
    assert sorted(int(j["scheduled_ms"]) for j in jobs) == [T0 - 10_000 + m * MINUTE for m in range(1, 11)]
    assert {(j["state"], j["actor"], j["queue"]) for j in jobs} == {("waiting", "noop", Q)}
    stored = typed_redis.hgetall(raw, keys.schedule_key("tick"))
    assert int(stored["next_ms"]) == T0 - 10_000 + 11 * MINUTE
    assert stored["last_job"] in {j["id"] for j in jobs}
    fired = [e for e in events(raw) if e["type"] == "schedule" and e["data"]["action"] == "fired"]
    assert len(fired) == 10


async def test_a_fired_job_has_the_shape_of_a_submitted_one(
    monitors: list[ScheduleFirer], raw: redis.Redis, settings: Settings
) -> None:
    (a, _) = monitors
    await a.registry.run(
        save(Schedule("one", "* * * * *", "sleep", Q, args=[0.5]), T0, mode="create", who="t")
    )
    (fired,) = await a.fire_due(T0 + MINUTE)
    submitted = await submit_async(a.registry, "sleep", [0.5])
    fired_fields = typed_redis.hgetall(raw, keys.job_key(fired))
    submitted_fields = typed_redis.hgetall(raw, keys.job_key(submitted))
    assert set(fired_fields) - set(submitted_fields) == {"schedule", "scheduled_ms"}
    assert set(submitted_fields) <= set(fired_fields)
    assert (await a.registry.get(fired)).schedule == "one"


async def test_a_fired_job_is_searchable_like_a_submitted_one(
    monitors: list[ScheduleFirer], raw: redis.Redis
) -> None:
    # Given a schedule of a face search (its gallery and image are searchable arguments)
    (a, _) = monitors
    request = {"image": "ab" * 32, "gallery": "nightly"}
    schedule = Schedule("sweep", "* * * * *", "face_search", "face_search", args=[request])
    await a.registry.run(save(schedule, T0, mode="create", who="t"))
    # When it fires, and the same job is submitted by hand
    (fired,) = await a.fire_due(T0 + MINUTE)
    submitted = await submit_async(a.registry, "face_search", [request])
    # Then both are in the search index under the same fields and values
    members = typed_redis.zrange(raw, keys.SEARCH_INDEX)

    def entries(job_id: str) -> list[str]:
        return sorted(m.rsplit("\x1f", 1)[0] for m in members if m.endswith("\x1f" + job_id))

    assert entries(fired) == entries(submitted) and len(entries(fired)) == 2


@pytest.mark.parametrize(("misfire", "jobs"), [("skip", 0), ("run_once", 1)])
async def test_a_schedule_whose_monitors_were_down_follows_its_misfire_policy(
    monitors: list[ScheduleFirer], raw: redis.Redis, misfire: str, jobs: int
) -> None:
    # Given an hourly schedule created at 00:00:10
    a, b = monitors
    await a.registry.run(
        save(Schedule("hourly", "@hourly", "noop", Q, misfire=misfire), T0, mode="create", who="t")
    )
    # When no monitor runs until 05:30, then two come back at once
    back = T0 - 10_000 + 5 * 60 * MINUTE + 30 * MINUTE
    for now in (back, back + 5000, back + 10_000):
        await asyncio.gather(a.fire_due(now), b.fire_due(now))
    # Then skip fired nothing and run_once fired once; both wait for 06:00 next
    assert len(scheduled_jobs(raw, "hourly")) == jobs
    assert int(raw.hget(keys.schedule_key("hourly"), "next_ms") or 0) == T0 - 10_000 + 6 * 60 * MINUTE
    (event,) = [
        e["data"] for e in events(raw) if e["type"] == "schedule" and e["data"]["action"] != "created"
    ]
    assert event["missed"] == 5
    assert event["action"] == ("skipped" if misfire == "skip" else "fired")


async def test_paused_schedules_do_not_fire_and_resume_from_the_next_time(
    monitors: list[ScheduleFirer], raw: redis.Redis
) -> None:
    (a, _) = monitors
    s = Schedule("p", "* * * * *", "noop", Q)
    await a.registry.run(save(s, T0, mode="create", who="t"))
    await a.registry.run(
        save(Schedule("p", "* * * * *", "noop", Q, enabled=False), T0, mode="update", who="t")
    )
    assert await a.fire_due(T0 + 5 * MINUTE) == []
    assert raw.zscore(keys.SCHEDULES, "p") == float("inf")
    await a.registry.run(save(s, T0 + 5 * MINUTE, mode="update", who="t"))
    assert int(raw.hget(keys.schedule_key("p"), "next_ms") or 0) == T0 - 10_000 + 6 * MINUTE
    assert len(await a.fire_due(T0 + 6 * MINUTE)) == 1


async def test_run_now_fires_without_moving_the_next_time(
    monitors: list[ScheduleFirer], raw: redis.Redis, settings: Settings
) -> None:
    (a, _) = monitors
    s = Schedule("r", "@daily", "noop", Q)
    await a.registry.run(save(s, T0, mode="create", who="t"))
    next_before = raw.hget(keys.schedule_key("r"), "next_ms")
    job_id = await a.registry.run(fire(s, None, submission(s, settings), who="admin|10.0.0.1"))
    assert raw.hget(keys.job_key(job_id), "schedule") == "r"
    assert raw.hget(keys.schedule_key("r"), "next_ms") == next_before
    assert raw.hget(keys.schedule_key("r"), "last_job") == job_id
    (_, audit), *_ = typed_redis.xrevrange(raw, keys.AUDIT_STREAM, count=1)
    assert (audit["action"], audit["who"], audit["target"]) == ("schedule_run", "admin", "r")
    # A missing schedule cannot be run; create twice or delete a missing one is refused
    with pytest.raises(ScheduleNotFound):
        await a.registry.run(fire(Schedule("gone", "@daily", "noop", Q), None, submission(s, settings)))
    with pytest.raises(ScheduleExists):
        await a.registry.run(save(s, T0, mode="create", who="t"))
    await a.registry.run(remove("r", who="t"))
    with pytest.raises(ScheduleNotFound):
        await a.registry.run(remove("r", who="t"))
    assert not raw.exists(keys.schedule_key("r")) and raw.zscore(keys.SCHEDULES, "r") is None


async def test_a_monitor_restarted_mid_span_neither_repeats_nor_misses_a_firing(
    settings: Settings, raw: redis.Redis
) -> None:
    # Given a schedule every minute and one monitor ticking every 5 s
    first = ScheduleFirer(AsyncRegistry(settings))
    await first.registry.run(save(Schedule("tick", "* * * * *", "noop", Q), T0, mode="create", who="t"))
    for now in range(T0, T0 + 4 * MINUTE + 30_000, 5000):
        await first.fire_due(now)
    # When it stops at 4:30 (its connection closed mid-span) and a new monitor process takes
    # over 40 s later, within the misfire grace
    await first.registry.close()
    second = ScheduleFirer(AsyncRegistry(settings))
    try:
        assert second.grace_ms > 40_000
        for now in range(T0 + 5 * MINUTE + 10_000, T0 + 10 * MINUTE + 1, 5000):
            await second.fire_due(now)
    finally:
        await second.registry.close()
    # Then the 10 minutes fired 10 times, each fire time once: the 5:00 one late, by the new one
    times = sorted(int(j["scheduled_ms"]) for j in scheduled_jobs(raw, "tick"))
    assert times == [T0 - 10_000 + m * MINUTE for m in range(1, 11)]


async def test_schedules_that_cannot_fire_are_set_aside_and_do_not_block_the_others(
    monitors: list[ScheduleFirer], raw: redis.Redis
) -> None:
    # Given more broken schedules than one tick reads (arguments `sleep` does not take), all
    # due before a good one
    a, b = monitors
    for i in range(FIRE_BATCH + 1):
        broken = Schedule(f"a-{i:03}", "* * * * *", "sleep", Q, args=["not a number"])
        await a.registry.run(save(broken, T0, mode="create", who="t"))
    await a.registry.run(save(Schedule("z-good", "* * * * *", "noop", Q), T0, mode="create", who="t"))
    # When the monitors tick twice past the fire time
    for now in (T0 + MINUTE, T0 + MINUTE + 5000):
        await asyncio.gather(a.fire_due(now), b.fire_due(now))
    # Then the good one fired, and every broken one carries its error and waits for its next time
    assert len(scheduled_jobs(raw, "z-good")) == 1
    for i in range(FIRE_BATCH + 1):
        stored = typed_redis.hgetall(raw, keys.schedule_key(f"a-{i:03}"))
        assert stored["last_error"].startswith("InvalidArguments"), stored
        assert int(stored["next_ms"]) == T0 - 10_000 + 2 * MINUTE
    failed = [e["data"] for e in events(raw) if e["type"] == "schedule" and e["data"]["action"] == "failed"]
    assert len(failed) == FIRE_BATCH + 1  # each once, whichever replica got there first
    # When one is fixed, its error goes; when it then fires, it fires as any other
    fixed = Schedule("a-000", "* * * * *", "sleep", Q, args=[0.01])
    await a.registry.run(save(fixed, T0 + MINUTE + 10_000, mode="update", who="t"))
    assert "last_error" not in typed_redis.hgetall(raw, keys.schedule_key("a-000"))
    await a.fire_due(T0 + 2 * MINUTE)
    assert len(scheduled_jobs(raw, "a-000")) == 1
