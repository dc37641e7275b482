"""A job that kills every worker that runs it fails as ``worker_lost`` instead of crash-looping the fleet."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import redis

from shared.registry import Registry
from shared.states import JobState
from tests.conftest import wait_for
from tests.dropin.test_options import seen, settled


def test_a_job_that_kills_its_workers_fails_as_worker_lost(
    app: ModuleType,
    registry: Registry,
    raw: redis.Redis,
    start_app_worker: Callable[..., Any],
    start_monitor: Callable[..., Any],
) -> None:
    # Given a monitor that reaps dead workers and a fleet allowed two worker losses per job
    start_monitor(max_worker_losses=2)
    # When a job kills the worker that runs it
    poison = app.kills_its_worker.send("poison")
    first = start_app_worker(max_worker_losses=2)
    first.wait(timeout=30)
    # Then it goes back to waiting (it has retries left), counting the loss
    settled(registry, poison.message_id, JobState.WAITING)
    assert raw.hget(f"fq:job:{poison.message_id}", "worker_losses") == "1"
    # and when it kills the next worker too, it fails for good, saying why
    start_app_worker(max_worker_losses=2).wait(timeout=30)
    job = settled(registry, poison.message_id, JobState.FAILED)
    assert job.error.startswith("worker_lost: ") and job.attempts == 2
    assert [e["to"] for e in job.timeline if e.get("reason") == "worker_lost"] == ["waiting", "failed"]
    assert len(seen(raw, "poison")) == 2
    # while the next worker lives on and runs other work
    start_app_worker(max_worker_losses=2)
    healthy = app.add.send(1, 1)
    assert settled(registry, healthy.message_id, JobState.COMPLETED).result == 2
    wait_for(lambda: registry.get(poison.message_id).state is JobState.FAILED, timeout=2)
