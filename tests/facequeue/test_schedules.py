"""A schedule declared in code next to a Dramatiq app's actor (issue 21): published by the
worker at boot, listed as ``source: code``, run like any schedule, paused across restarts."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import redis

from shared import keys
from shared.registry import Registry
from shared.schedules import Schedule, fire, save, submission
from tests import typed_redis
from tests.conftest import wait_for

NAME = "dropin-new-year"


def stored(raw: redis.Redis) -> Schedule:
    return Schedule.from_hash(typed_redis.hgetall(raw, keys.schedule_key(NAME)))


def test_code_schedule_is_published_runs_and_keeps_its_pause(
    app: ModuleType, registry: Registry, raw: redis.Redis, start_app_worker: Callable[..., Any]
) -> None:
    # Given the app's worker has booted, Then its declared schedule is in Redis, marked as code
    worker = start_app_worker()
    wait_for(lambda: raw.exists(keys.schedule_key(NAME)), what="the declared schedule")
    schedule = stored(raw)
    assert (schedule.source, schedule.actor, schedule.queue, schedule.cron) == (
        "code",
        "greet_new_year",
        "dropin",
        "@yearly",
    )
    assert schedule.next_ms > 0
    # When it is run now, Then its actor (unknown to the catalog) runs with the declared arguments
    job_id = registry.run(fire(schedule, None, submission(schedule, registry.settings), who="test"))
    wait_for(lambda: raw.llen("seen:new-year") == 1, what="the scheduled job to run")
    assert json.loads(raw.lindex("seen:new-year", 0) or "{}")["id"] == job_id
    # When an operator pauses it and the worker restarts, Then it stays paused
    registry.run(
        save(dataclasses.replace(schedule, enabled=False), registry.now_ms(), mode="update", who="t")
    )
    worker.terminate()
    worker.wait(timeout=20)
    start_app_worker()
    assert stored(raw).enabled is False
    assert raw.zscore(keys.SCHEDULES, NAME) == float("inf")
