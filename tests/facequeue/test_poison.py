"""A job that kills every worker that runs it fails as ``worker_lost`` instead of crash-looping the fleet."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import redis

from shared.registry import Registry
from shared.states import JobState
from tests import typed_redis
from tests.facequeue.test_options import seen, settled
from tests.processes import wait_for


def live_children(pid: int) -> list[int]:
    """Child processes of ``pid`` still running (not exited, not a zombie awaiting its parent)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return []  # the process itself is gone: so are its children
    live = []
    for child in children:
        try:
            state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            continue
        if state not in ("Z", "X"):
            live.append(int(child))
    return live


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
    first = start_app_worker(max_worker_losses=2, wait=False)

    def lost_once() -> bool:
        fields = raw.hmget(f"fq:job:{poison.message_id}", ["state", "worker_losses"])
        return fields == ["waiting", "1"]

    # Then it goes back to waiting (it has retries left), counting the loss
    wait_for(lost_once, timeout=60, what="the first loss")
    # and when it kills the next worker too, it fails for good, saying why
    second = start_app_worker(max_worker_losses=2, wait=False)
    job = wait_for(
        lambda: (j := registry.get(poison.message_id)).state is JobState.FAILED and j,
        timeout=60,
        what="failure",
    )
    # each worker process that ran it is dead, and no worker of theirs runs on. (Not their Dramatiq
    # main processes' exit: a child killed while booting leaves the main waiting out
    # --worker-fork-timeout, 30 s, or for good on a multiprocessing lock the child held when it
    # was killed; fresh-clone runs saw 60 s and over 120 s. The fixture stops them.)
    wait_for(lambda: not live_children(first.pid) and not live_children(second.pid), timeout=30, what="exits")
    assert job.error.startswith("worker_lost: ") and job.attempts == 2
    assert [e["to"] for e in job.timeline if e.get("reason") == "worker_lost"] == ["waiting", "failed"]
    assert len(seen(raw, "poison")) == 2
    # while the next worker lives on and runs other work
    start_app_worker(max_worker_losses=2)
    healthy = app.add.send(1, 1)
    assert settled(registry, healthy.message_id, JobState.COMPLETED).result == 2
    wait_for(lambda: registry.get(poison.message_id).state is JobState.FAILED, timeout=2)


def test_a_run_whose_start_reply_was_lost_is_given_back_and_runs_once(
    app: ModuleType, registry: Registry, raw: redis.Redis, start_app_worker: Callable[..., Any]
) -> None:
    from shared import actions, keys, transitions

    start_app_worker()
    (worker_id,) = typed_redis.zrange(raw, keys.WORKERS)
    # Given a job the registry records as running on this live worker, though none of its
    # threads runs it (job_start ran, its reply was lost, so the thread skipped the run):
    # the job is dispatched by hand while the queue is paused, then started for that worker.
    registry.run(actions.pause(app.QUEUE))
    message = app.add.send(20, 1)
    raw.zadd(keys.dispatched_key(app.QUEUE), {message.message_id: registry.now_ms()})
    registry.run(actions.resume(app.QUEUE))
    assert registry.run(transitions.start(message.message_id, app.QUEUE, 0, worker_id)) == "started"
    # When the worker's beats see it twice, it goes back to waiting with a new generation
    job = settled(registry, message.message_id, JobState.COMPLETED)
    orphaned = [e for e in job.timeline if e.get("reason") == "orphaned"]
    assert orphaned and orphaned[0]["from"] == "active" and orphaned[0]["to"] == "waiting"
    # and then ran exactly once
    assert job.result == 21 and [e["args"] for e in seen(raw, "add")] == [[20, 1]]
    assert [e["to"] for e in job.timeline].count("completed") == 1
