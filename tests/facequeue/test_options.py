"""Dramatiq's actor and message options keep their documented meaning on FacequeueBroker.

Each test sends from this process with Dramatiq's own API, lets a plain
``dramatiq`` worker run the app, and checks both what Dramatiq promises (attempts,
callbacks, results) and what facequeue's registry recorded.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
import redis
from dramatiq.results import ResultFailure

from shared import reads
from shared.jobs import Job
from shared.registry import Registry
from shared.states import JobState
from tests.processes import wait_for

Worker = Callable[..., Any]


def settled(registry: Registry, job_id: str, state: JobState) -> Job:
    """Wait until the job reaches ``state``; returns its record."""
    job: Job = wait_for(
        lambda: (got := registry.get(job_id)).state is state and got, what=f"{job_id} {state}"
    )
    return job


def seen(raw: redis.Redis, tag: str) -> list[dict[str, Any]]:
    return [json.loads(entry) for entry in raw.lrange(f"seen:{tag}", 0, -1)]


def backoffs_ms(job: Job) -> list[int]:
    """The backoff of each retry: the delayed event's eta minus its time (both on Redis's clock)."""
    return [round(e["eta_ms"] - e["ts"] * 1000) for e in job.timeline if e["to"] == "delayed"]


def test_send_returns_the_job_and_keyword_arguments_reach_the_actor(
    app: ModuleType, registry: Registry, raw: redis.Redis, start_app_worker: Worker
) -> None:
    # Given a worker of the app
    start_app_worker()
    # When an actor is sent positional and keyword arguments
    message = app.add.send_with_options(args=(2,), kwargs={"y": 3, "scale": 10})
    # Then the message's id is the job's id, everywhere
    job = settled(registry, message.message_id, JobState.COMPLETED)
    assert seen(raw, "add")[0]["id"] == message.message_id
    # and the actor got the keyword arguments, which the job shows
    assert job.result == 50 and job.args == [2] and job.kwargs == {"y": 3, "scale": 10}
    # and Dramatiq's Results middleware holds the same result facequeue shows
    assert message.get_result(block=True, timeout=10_000) == 50


def test_an_actor_declared_never_to_retry_runs_once(
    app: ModuleType, registry: Registry, raw: redis.Redis, start_app_worker: Worker
) -> None:
    start_app_worker()
    message = app.never_retry.send("once")
    job = settled(registry, message.message_id, JobState.FAILED)
    assert len(seen(raw, "once")) == 1
    assert job.attempts == 1 and job.max_retries == 0
    assert job.error == "RuntimeError: charged the card once"


def test_retries_follow_the_middleware_default_with_the_actors_backoff_and_middleware_options(
    app: ModuleType, registry: Registry, raw: redis.Redis, start_app_worker: Worker
) -> None:
    start_app_worker()
    # Given an actor with no max_retries of its own (Retries' default, 20) failing twice
    message = app.flaky.send("twice", 2)
    job = settled(registry, message.message_id, JobState.COMPLETED)
    runs = seen(raw, "twice")
    # Then it ran three times, the retries count visible to the actor each time
    assert [r["retries"] for r in runs] == [0, 1, 2]
    assert job.attempts == 3 and job.max_retries == 20 and job.result == "finally"
    # with the actor's backoff (min 50, max 100 ms; Dramatiq 2's jitter: factor·2^n·[1, 2),
    # brought back to [max/2, max] past the max)
    first, second = backoffs_ms(job)
    assert 50 <= first <= 100 and 50 <= second <= 100
    # and the option a middleware added after each failure reached the next attempt
    assert [r["options"].get("stamps") for r in runs] == [None, [0], [0, 1]]
    assert job.options["stamps"] == [0, 1]
    # and the enqueue hooks fired for the send and each retry (what Dramatiq's Prometheus counts)
    assert raw.get("hook:before_enqueue:flaky") == raw.get("hook:after_enqueue:flaky") == "3"
    assert raw.get("hook:retried:flaky") == "2"


def test_message_options_beat_the_actors(
    app: ModuleType, registry: Registry, raw: redis.Redis, start_app_worker: Worker
) -> None:
    start_app_worker()
    # Given a message that sets its own retries and backoff
    message = app.flaky.send_with_options(
        args=("capped", 10), max_retries=2, min_backoff=200, max_backoff=300
    )
    job = settled(registry, message.message_id, JobState.FAILED)
    # Then it ran 1 + 2 times, and the job shows the options it was sent with
    assert len(seen(raw, "capped")) == 3
    assert job.attempts == 3 and job.max_retries == 2
    assert {k: job.options[k] for k in ("max_retries", "min_backoff", "max_backoff")} == {
        "max_retries": 2,
        "min_backoff": 200,
        "max_backoff": 300,
    }
    first, second = backoffs_ms(job)
    assert 150 <= first <= 300 and 150 <= second <= 300


def test_throws_and_retry_when(
    app: ModuleType, registry: Registry, raw: redis.Redis, start_app_worker: Worker
) -> None:
    start_app_worker()
    # An exception the actor throws on purpose is not retried, whatever max_retries says
    thrown = app.refuses.send("thrown")
    # and retry_when decides instead of max_retries: retried while retries < 2
    decided = app.retry_when_twice.send("decided")
    assert settled(registry, thrown.message_id, JobState.FAILED).attempts == 1
    assert settled(registry, decided.message_id, JobState.FAILED).attempts == 3
    assert len(seen(raw, "thrown")) == 1 and len(seen(raw, "decided")) == 3


def test_time_limits_of_actor_and_message_stop_the_run(
    app: ModuleType, registry: Registry, raw: redis.Redis, start_app_worker: Worker
) -> None:
    start_app_worker()
    by_actor = app.limited.send("limited")  # time_limit=300 on the actor, sleeps 5 s
    by_message = app.sleeper.send_with_options(args=("slow", 5), time_limit=300)
    for message in (by_actor, by_message):
        job = settled(registry, message.message_id, JobState.FAILED)
        assert job.error == "TimeLimitExceeded"
        assert job.finished_ms is not None and job.started_ms is not None
        assert job.finished_ms - job.started_ms < 3000
    assert by_message.options["time_limit"] == 300


def test_max_age_skips_a_message_that_waited_too_long(
    app: ModuleType, registry: Registry, raw: redis.Redis, start_app_worker: Worker
) -> None:
    start_app_worker()
    # A message that may be at most 100 ms old, delayed by 500 ms, is never run
    message = app.sleeper.send_with_options(args=("aged", 0), max_age=100, delay=500)
    job = settled(registry, message.message_id, JobState.FAILED)
    assert seen(raw, "aged") == []
    assert "age limit" in job.error
    # while a fresh one runs
    fresh = app.sleeper.send_with_options(args=("fresh", 0), max_age=60_000)
    settled(registry, fresh.message_id, JobState.COMPLETED)


def test_on_success_and_on_failure_callbacks(
    app: ModuleType, registry: Registry, raw: redis.Redis, start_app_worker: Worker
) -> None:
    start_app_worker()
    ok = app.add.send_with_options(args=(1, 2), on_success=app.on_done)
    broken = app.explode.send_with_options(args=("boom",), on_failure=app.on_broken, max_retries=0)
    assert wait_for(lambda: seen(raw, "on_success")) == [{"id": ok.message_id, "result": 3}]
    (failure,) = wait_for(lambda: seen(raw, "on_failure"))
    assert failure["id"] == broken.message_id and failure["error"]["type"] == "KeyError"
    # and Dramatiq's Results middleware stored the failure, as it does on a dead-lettered message
    with pytest.raises(ResultFailure):
        broken.get_result(block=True, timeout=10_000)
    # and the callbacks are facequeue jobs like any other
    assert registry.get(ok.message_id).options["on_success"] == "on_done"

    def completed_callbacks() -> list[Job]:
        jobs, _ = registry.run(reads.search_jobs(limit=50, actor="on_done"))
        return [j for j in jobs if j.state is JobState.COMPLETED]

    assert len(wait_for(completed_callbacks, what="callback job")) == 1


def test_pipelines_pass_each_result_on(app: ModuleType, registry: Registry, start_app_worker: Worker) -> None:
    import dramatiq

    start_app_worker()
    # (1 + 2) -> add(10, 3) -> add(0, 13, scale=2); then a step that ignores the result
    steps = dramatiq.pipeline(
        [
            app.add.message(1, 2),
            app.add.message(10),
            app.add.message_with_options(args=(0,), kwargs={"scale": 2}),
        ]
    )
    steps.run()
    assert steps.get_result(block=True, timeout=20_000) == 26
    # (Dramatiq's result backend is written before the run's ack records it in the registry)
    wait_for(
        lambda: [registry.get(m.message_id).result for m in steps.messages] == [3, 13, 26],
        what="the registry's results",
    )
    ignoring = app.add.message(4) | app.add.message_with_options(args=(5,), pipe_ignore=True)
    ignoring.run()
    assert ignoring.get_result(block=True, timeout=20_000) == 5


def test_group_completion_callback_runs_once(
    app: ModuleType, registry: Registry, raw: redis.Redis, start_app_worker: Worker
) -> None:
    import dramatiq

    start_app_worker()
    group = dramatiq.group([app.add.message(1), app.add.message(2), app.add.message(3)])
    group.add_completion_callback(app.group_done.message("grouped"))
    group.run()
    assert sorted(group.get_results(block=True, timeout=20_000)) == [1, 2, 3]
    wait_for(lambda: raw.lrange("seen:grouped", 0, -1) == ["done"], what="group callback")


def test_retry_with_a_delay_and_on_retry_exhausted(
    app: ModuleType, registry: Registry, raw: redis.Redis, start_app_worker: Worker
) -> None:
    start_app_worker()
    # An actor raising Retry(delay=300) is retried after exactly that delay
    later = app.asks_for_later.send("later")
    job = settled(registry, later.message_id, JobState.COMPLETED)
    assert backoffs_ms(job) == [300] and job.result == "later"
    # and when retries run out, the on_retry_exhausted actor hears of it
    gave_up = app.gives_up.send("gave_up")
    settled(registry, gave_up.message_id, JobState.FAILED)
    (told,) = wait_for(lambda: seen(raw, "exhausted"), what="on_retry_exhausted")
    assert told == {"id": gave_up.message_id, "retries": 1, "max_retries": 1}
    assert len(seen(raw, "gave_up")) == 2
