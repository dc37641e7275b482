"""Every legal transition, and every illegal one changing nothing (real redis-server)."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
import redis

from shared import actions, keys, transitions, worker_calls
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.errors import InvalidTransition, JobExists, JobNotFound
from shared.registry import Registry
from shared.scripts import Call
from shared.states import JobState
from shared.submit import submit, submit_call
from tests import typed_redis
from tests.helpers import snapshot, transitions_of
from tests.processes import wait_for

W = "worker-a"


def make(registry: Registry, state: JobState, **kw: object) -> str:
    """Drive a new job into ``state`` through legal transitions."""
    if state is JobState.DELAYED:
        return submit(registry, "noop", delay_ms=60_000, **kw)  # type: ignore[arg-type]
    job_id = submit(registry, "noop", **kw)  # type: ignore[arg-type]
    if state is JobState.WAITING:
        return job_id
    start(registry, job_id)
    if state is JobState.COMPLETED:
        assert registry.run(transitions.complete(job_id, Q, 0, W, '{"ok": 1}'))
    elif state is JobState.FAILED:
        assert registry.run(transitions.fail(job_id, Q, 0, W, "Boom: x", "tb"))
    return job_id


def start(registry: Registry, job_id: str) -> None:
    registry.run(transitions.dispatch(Q, 100))
    assert registry.run(transitions.start(job_id, Q, registry.get(job_id).gen, W)) == "started"


@pytest.mark.parametrize("state", list(JobState))
def test_make_reaches_every_state_with_consistent_index(
    registry: Registry, raw: redis.Redis, state: JobState
) -> None:
    # Given a job driven into a state, When we read it back, Then record and index agree.
    job_id = make(registry, state)
    assert registry.get(job_id).state is state
    assert raw.zscore(f"fq:q:{Q}:{state.value}", job_id) is not None
    assert registry.counts([Q])[Q][state.value] == 1


def test_submit_creates_waiting_job_and_announces_it(registry: Registry, raw: redis.Redis) -> None:
    job_id = submit(registry, "sleep", {"seconds": 0.1}, priority=3)
    job = registry.get(job_id)
    assert (job.state, job.priority, job.args, job.attempts) == (JobState.WAITING, 3, [0.1], 0)
    assert transitions_of(raw, job_id) == [(None, "waiting")]


def test_submit_twice_with_same_id_is_rejected(registry: Registry, raw: redis.Redis) -> None:
    from shared.submit import submit_call

    _, call = submit_call("noop", settings=registry.settings, job_id="dup1")
    registry.run(call)
    before = snapshot(raw)
    with pytest.raises(JobExists):
        registry.run(call)
    assert snapshot(raw) == before


def test_delayed_job_is_released_to_waiting_when_due(registry: Registry, raw: redis.Redis) -> None:
    job_id = submit(registry, "noop", delay_ms=200)
    assert registry.get(job_id).state is JobState.DELAYED
    registry.run(transitions.dispatch(Q, 0))
    assert registry.get(job_id).state is JobState.DELAYED  # not due yet
    wait_for(lambda: registry.run(transitions.dispatch(Q, 0))[0] == 1, what="release")
    assert registry.get(job_id).state is JobState.WAITING
    assert transitions_of(raw, job_id) == [(None, "delayed"), ("delayed", "waiting")]


def test_promote_moves_delayed_job_to_waiting_now(registry: Registry) -> None:
    job_id = make(registry, JobState.DELAYED)
    assert registry.run(actions.promote(job_id, Q)) == "waiting"
    job = registry.get(job_id)
    assert job.state is JobState.WAITING and job.eta_ms is None


def test_start_complete_records_result_and_worker(registry: Registry, raw: redis.Redis) -> None:
    job_id = make(registry, JobState.COMPLETED)
    job = registry.get(job_id)
    assert (job.state, job.result, job.worker, job.attempts) == (JobState.COMPLETED, {"ok": 1}, W, 1)
    assert job.started_ms is not None and job.finished_ms is not None
    assert transitions_of(raw, job_id) == [(None, "waiting"), ("waiting", "active"), ("active", "completed")]


def test_fail_then_operator_retry_resets_attempts(registry: Registry, raw: redis.Redis) -> None:
    job_id = make(registry, JobState.FAILED)
    failed = registry.get(job_id)
    assert (failed.error, failed.traceback, failed.attempts) == ("Boom: x", "tb", 1)
    assert registry.run(actions.retry(job_id, Q)) == "waiting"
    job = registry.get(job_id)
    assert (job.state, job.attempts, job.error, job.gen) == (JobState.WAITING, 0, "", 1)


def test_retry_later_moves_active_job_to_delayed_with_eta(registry: Registry) -> None:
    job_id = make(registry, JobState.ACTIVE)
    assert registry.run(transitions.retry_later(job_id, Q, 0, W, 5_000, "E: x", "tb"))
    job = registry.get(job_id)
    assert job.state is JobState.DELAYED and job.eta_ms is not None
    assert job.eta_ms - job.finished_ms >= 5_000  # type: ignore[operator]


def test_set_priority_rescores_waiting_job(registry: Registry, raw: redis.Redis) -> None:
    low = submit(registry, "noop", priority=9)
    high = submit(registry, "noop", priority=5)
    assert raw.zrange(f"fq:q:{Q}:waiting", 0, -1) == [high, low]
    assert registry.run(actions.set_priority(low, Q, 0)) == "waiting"
    assert raw.zrange(f"fq:q:{Q}:waiting", 0, -1) == [low, high]
    assert registry.get(low).priority == 0


def test_set_priority_after_dispatch_bumps_generation(registry: Registry, raw: redis.Redis) -> None:
    job_id = submit(registry, "noop")
    registry.run(transitions.dispatch(Q, 10))
    assert raw.zscore(f"fq:q:{Q}:dispatched", job_id) is not None
    registry.run(actions.set_priority(job_id, Q, 1))
    assert registry.get(job_id).gen == 1
    # The old copy (gen 0) is now stale.
    assert registry.run(transitions.start(job_id, Q, 0, W)) == "stale"


def test_a_start_resent_after_its_lost_reply_answers_started_and_a_second_copy_stays_stale(
    registry: Registry, raw: redis.Redis
) -> None:
    # Given a dispatched job, When the very same start call runs twice (the client's resend
    # after Redis died before answering), Then both answer started and the job started once.
    job_id = submit(registry, "noop")
    registry.run(transitions.dispatch(Q, 10))
    call = transitions.start(job_id, Q, 0, W)
    assert registry.run(call) == "started"
    assert registry.run(call) == "started"
    job = registry.get(job_id)
    assert (job.state, job.attempts) == (JobState.ACTIVE, 1)
    assert transitions_of(raw, job_id) == [(None, "waiting"), ("waiting", "active")]
    # But another start of the same copy (its own token: a duplicate delivery) is stale.
    assert registry.run(transitions.start(job_id, Q, 0, W)) == "stale"


@pytest.mark.parametrize("state", [JobState.WAITING, JobState.DELAYED, JobState.COMPLETED, JobState.FAILED])
def test_delete_removes_job_from_every_index(registry: Registry, raw: redis.Redis, state: JobState) -> None:
    job_id = make(registry, state)
    assert registry.run(actions.delete(job_id, Q)) == state.value
    with pytest.raises(JobNotFound):
        registry.get(job_id)
    assert all(raw.zscore(k, job_id) is None for k in raw.keys("fq:q:*"))
    assert transitions_of(raw, job_id)[-1] == (state.value, None)


def test_delete_active_needs_force_and_drops_the_running_outcome(
    registry: Registry, raw: redis.Redis
) -> None:
    job_id = make(registry, JobState.ACTIVE)
    before = snapshot(raw)
    with pytest.raises(InvalidTransition):
        registry.run(actions.delete(job_id, Q))
    assert snapshot(raw) == before
    assert registry.run(actions.delete(job_id, Q, force=True)) == "active"
    # The worker finishing later must not resurrect the record.
    assert not registry.run(transitions.complete(job_id, Q, 0, W, "1"))
    assert not raw.exists(f"fq:job:{job_id}")


def test_reap_moves_dead_workers_active_job_back_to_waiting(registry: Registry, raw: redis.Redis) -> None:
    job_id = make(registry, JobState.ACTIVE)
    registry.run(worker_calls.worker_beat(W, {"pid": 1}))
    assert registry.run(worker_calls.reap_worker(W, [Q], 60_000, max_losses=3)) == -1  # alive: untouched
    assert registry.run(worker_calls.reap_worker(W, [Q], 0, max_losses=3)) == 1
    job = registry.get(job_id)
    assert (job.state, job.gen, job.worker) == (JobState.WAITING, 1, "")
    # and the worker is listed as dead for a while, no longer live
    assert raw.hget(f"fq:worker:{W}", "status") == "dead" and raw.pttl(f"fq:worker:{W}") > 0
    assert raw.zscore("fq:workers", W) is None and raw.zscore("fq:workers:dead", W) is not None


@pytest.mark.parametrize(
    ("max_retries", "max_losses", "survived"),
    [
        (3, 3, 2),  # the third worker death fails it: a poison job cannot crash-loop the fleet
        (0, 3, 0),  # no retries: the first death fails it
        (1, 5, 1),  # one retry: the second death (attempt 2 > 1 retry) fails it
    ],
)
def test_a_job_whose_workers_keep_dying_fails_as_worker_lost(
    registry: Registry, raw: redis.Redis, max_retries: int, max_losses: int, survived: int
) -> None:
    # Given a job that kills every worker that runs it
    job_id = make(registry, JobState.ACTIVE, max_retries=max_retries)
    for _ in range(survived):
        # When its worker dies, it goes back to waiting and runs again
        registry.run(worker_calls.worker_beat(W, {"pid": 1}))
        assert registry.run(worker_calls.reap_worker(W, [Q], 0, max_losses=max_losses)) == 1
        assert registry.get(job_id).state is JobState.WAITING
        start(registry, job_id)
    # Then the death past its allowance fails it, saying why, and requeues nothing
    registry.run(worker_calls.worker_beat(W, {"pid": 1}))
    assert registry.run(worker_calls.reap_worker(W, [Q], 0, max_losses=max_losses)) == 0
    job = registry.get(job_id)
    assert job.state is JobState.FAILED and job.error.startswith("worker_lost: ")
    assert job.timeline[-1]["reason"] == "worker_lost" and job.timeline[-1]["to"] == "failed"
    assert job.attempts == survived + 1
    assert registry.counts([Q])[Q] == {"waiting": 0, "delayed": 0, "active": 0, "completed": 0, "failed": 1}


def test_a_clean_exit_does_not_count_against_the_job(registry: Registry, raw: redis.Redis) -> None:
    # A worker draining out (forget) gives its job back even when the job has no retries left
    job_id = make(registry, JobState.ACTIVE, max_retries=0)
    registry.run(worker_calls.worker_beat(W, {"pid": 1}))
    assert registry.run(worker_calls.reap_worker(W, [Q], 0, max_losses=1, forget=True)) == 1
    assert registry.get(job_id).state is JobState.WAITING
    assert not raw.hexists(f"fq:job:{job_id}", "worker_losses")


def test_reap_with_forget_removes_a_departing_worker_entirely(registry: Registry, raw: redis.Redis) -> None:
    registry.run(worker_calls.worker_beat(W, {"pid": 1}))
    assert registry.run(worker_calls.reap_worker(W, [Q], 0, max_losses=3, forget=True)) == 0
    assert not raw.exists(f"fq:worker:{W}") and raw.zscore("fq:workers:dead", W) is None


def test_worker_wrongly_declared_dead_comes_back_alive(registry: Registry, raw: redis.Redis) -> None:
    registry.run(worker_calls.worker_beat(W, {"pid": 1}))
    registry.run(worker_calls.reap_worker(W, [Q], 0, max_losses=3))
    _, stop = registry.run(worker_calls.worker_beat(W, {"pid": 1}))
    assert not stop
    assert raw.hget(f"fq:worker:{W}", "status") is None and raw.pttl(f"fq:worker:{W}") == -1
    assert raw.zscore("fq:workers:dead", W) is None and raw.zscore("fq:workers", W) is not None


def test_pause_and_resume_emit_once(registry: Registry, raw: redis.Redis) -> None:
    assert registry.run(actions.pause(Q)) is True
    assert registry.run(actions.pause(Q)) is False
    assert raw.sismember("fq:paused", Q)
    assert registry.run(actions.resume(Q)) is True
    assert registry.run(actions.resume(Q)) is False
    assert [e for e in typed_redis.xrange(raw, "fq:events") if e[1]["type"] == "pause"].__len__() == 2


def test_paused_queue_dispatches_nothing_and_skips_fetched_copies(
    registry: Registry, raw: redis.Redis
) -> None:
    job_id = submit(registry, "noop")
    registry.run(transitions.dispatch(Q, 10))
    registry.run(actions.pause(Q))
    assert registry.run(transitions.start(job_id, Q, 0, W)) == "paused"
    assert registry.get(job_id).state is JobState.WAITING
    assert registry.run(transitions.dispatch(Q, 10))[:3] == (0, 0, True)


def test_a_consumers_dispatch_fetches_as_dramatiq_does_and_nothing_while_paused(
    registry: Registry, raw: redis.Redis
) -> None:
    # Given three waiting jobs, and one message the monitor already put on Dramatiq's list
    first = submit(registry, "noop")
    registry.run(transitions.dispatch(Q, 1))
    later = [submit(registry, "noop") for _ in range(2)]
    # When a consumer dispatches and fetches two in one call
    out = registry.run(transitions.dispatch(Q, 2, fetch=2, worker=W))
    # Then the list is topped up, and the two oldest messages come back, list order first,
    # held in the worker's ack set with Dramatiq's heartbeat written, as Dramatiq's fetch leaves them
    assert out.sent == 1
    fetched = [json.loads(body or b"") for body in out.messages]
    assert [m["options"]["fq_job"] for m in fetched] == [first, later[0]]
    ids = {m["options"]["redis_message_id"] for m in fetched}
    assert set(typed_redis.smembers(raw, keys.dramatiq_acks_key(W, Q))) == ids
    assert raw.zscore(keys.DRAMATIQ_HEARTBEATS, W) is not None
    assert cast(list[str], raw.lrange(keys.dramatiq_queue_key(Q), 0, -1)) == []
    # And a paused queue hands out nothing: neither dispatched nor already listed messages
    registry.run(transitions.dispatch(Q, 2))
    registry.run(actions.pause(Q))
    paused = registry.run(transitions.dispatch(Q, 5, fetch=5, worker=W))
    assert paused.paused and paused.messages == ()
    assert raw.llen(keys.dramatiq_queue_key(Q)) == 1


ILLEGAL = [
    ("retry", JobState.WAITING),
    ("retry", JobState.DELAYED),
    ("retry", JobState.ACTIVE),
    ("retry", JobState.COMPLETED),
    ("promote", JobState.WAITING),
    ("promote", JobState.ACTIVE),
    ("promote", JobState.COMPLETED),
    ("promote", JobState.FAILED),
    ("priority", JobState.ACTIVE),
    ("priority", JobState.COMPLETED),
    ("priority", JobState.FAILED),
    ("delete", JobState.ACTIVE),
]


@pytest.mark.parametrize(("action", "state"), ILLEGAL)
def test_illegal_admin_transition_raises_and_changes_nothing(
    registry: Registry, raw: redis.Redis, action: str, state: JobState
) -> None:
    # Given a job in a state the action does not apply to
    job_id = make(registry, state)
    call = {
        "retry": actions.retry(job_id, Q),
        "promote": actions.promote(job_id, Q),
        "priority": actions.set_priority(job_id, Q, 1),
        "delete": actions.delete(job_id, Q),
    }[action]
    before = snapshot(raw)
    # When the action is attempted, Then it is refused with the job's state, and nothing changed
    with pytest.raises(InvalidTransition) as info:
        registry.run(call)
    assert info.value.state == state.value
    assert snapshot(raw) == before


WORKER_ILLEGAL = [
    ("start", JobState.ACTIVE),
    ("start", JobState.COMPLETED),
    ("start", JobState.FAILED),
    ("start", JobState.DELAYED),
    ("complete", JobState.WAITING),
    ("complete", JobState.COMPLETED),
    ("complete", JobState.FAILED),
    ("fail", JobState.WAITING),
    ("fail", JobState.DELAYED),
    ("retry_later", JobState.COMPLETED),
    ("retry_later", JobState.WAITING),
]


@pytest.mark.parametrize(("action", "state"), WORKER_ILLEGAL)
def test_worker_transition_from_wrong_state_is_refused_and_changes_nothing(
    registry: Registry, raw: redis.Redis, action: str, state: JobState
) -> None:
    job_id = make(registry, state)
    calls: dict[str, Call[Any]] = {
        "start": transitions.start(job_id, Q, 0, W),
        "complete": transitions.complete(job_id, Q, 0, W, "1"),
        "fail": transitions.fail(job_id, Q, 0, W, "e", "t"),
        "retry_later": transitions.retry_later(job_id, Q, 0, W, 10, "e", "t"),
    }
    call = calls[action]
    before = snapshot(raw)
    assert registry.run(call) in (False, "stale")
    assert snapshot(raw) == before


def test_outcome_from_another_worker_or_generation_is_refused(registry: Registry, raw: redis.Redis) -> None:
    job_id = make(registry, JobState.ACTIVE)
    before = snapshot(raw)
    assert not registry.run(transitions.complete(job_id, Q, 0, "other-worker", "1"))
    assert not registry.run(transitions.complete(job_id, Q, 7, W, "1"))
    assert snapshot(raw) == before


def fetch_copy(raw: redis.Redis, worker: str) -> str:
    """Do what Dramatiq's fetch does to the next dispatched copy: list -> the worker's ack set."""
    message_id = cast(str | None, raw.lpop(keys.dramatiq_queue_key(Q)))
    assert message_id is not None
    raw.sadd(keys.dramatiq_acks_key(worker, Q), message_id)
    return str(message_id)


def started_with_its_copy(registry: Registry, raw: redis.Redis) -> tuple[str, str]:
    """A job dispatched, its copy fetched by worker W, and started: its id and the copy's."""
    job_id = submit(registry, "noop")
    registry.run(transitions.dispatch(Q, 1))
    message_id = fetch_copy(raw, W)
    start(registry, job_id)
    return job_id, message_id


def assert_copy_acked(raw: redis.Redis, message_id: str) -> None:
    assert not raw.smembers(keys.dramatiq_acks_key(W, Q))
    assert not raw.hexists(keys.dramatiq_messages_key(Q), message_id)


def test_complete_with_its_message_id_acks_the_copy_in_the_same_script(
    registry: Registry, raw: redis.Redis
) -> None:
    # Given a job whose Dramatiq copy a worker fetched and started
    job_id, message_id = started_with_its_copy(registry, raw)
    # When the worker completes it, naming the copy
    call = transitions.complete(job_id, Q, 0, W, "null", message_id=message_id)
    assert registry.run(call)
    # Then the job is completed and the copy is gone from the ack set and Dramatiq's bodies
    assert registry.get(job_id).state is JobState.COMPLETED
    assert_copy_acked(raw, message_id)
    # and a replay (a reply lost, the call retried) changes nothing
    before = snapshot(raw)
    assert not registry.run(call)
    assert snapshot(raw) == before


def test_a_superseded_run_still_acks_its_copy_and_changes_nothing_else(
    registry: Registry, raw: redis.Redis
) -> None:
    # Given a started job that an operator force-deleted while it ran
    job_id, message_id = started_with_its_copy(registry, raw)
    registry.run(actions.delete(job_id, Q, force=True))
    # When the worker completes its copy
    assert not registry.run(transitions.complete(job_id, Q, 0, W, "null", message_id=message_id))
    # Then the copy is acked all the same, and the job stays deleted
    assert_copy_acked(raw, message_id)
    assert not raw.exists(f"fq:job:{job_id}")


@pytest.mark.parametrize("action", ["retry", "promote", "priority", "delete"])
def test_admin_action_on_missing_job_is_not_found(registry: Registry, raw: redis.Redis, action: str) -> None:
    call = {
        "retry": actions.retry("nope", Q),
        "promote": actions.promote("nope", Q),
        "priority": actions.set_priority("nope", Q, 1),
        "delete": actions.delete("nope", Q),
    }[action]
    with pytest.raises(JobNotFound):
        registry.run(call)
    assert raw.dbsize() == 0


def test_scripts_survive_a_flushed_script_cache(registry: Registry, raw: redis.Redis) -> None:
    # Given Redis lost its script cache (as after a restart)
    submit(registry, "noop")
    raw.script_flush()
    # When a transition runs again, Then redis-py reloads the script (NOSCRIPT) and it works
    job_id = submit(registry, "noop")
    assert registry.get(job_id).state is JobState.WAITING


def test_list_pages_through_a_state_with_a_cursor(registry: Registry) -> None:
    ids = [submit(registry, "noop", priority=p % 3) for p in range(7)]
    expected = sorted(ids, key=lambda i: (registry.get(i).priority, registry.get(i).enqueued_ms, i))
    seen: list[str] = []
    cursor = None
    while True:
        page, cursor = registry.list(Q, JobState.WAITING, limit=3, cursor=cursor)
        seen += [j.id for j in page]
        if cursor is None:
            break
    assert seen == expected


def test_run_many_pipelines_calls_each_atomic_with_replies_in_order_and_raises_a_refusal(
    registry: Registry, raw: redis.Redis
) -> None:
    # Given three submissions and their starts, pipelined in one round trip
    made = [submit_call("noop", settings=registry.settings) for _ in range(3)]
    states = registry.run_many([call for _, call in made])
    assert states == ["waiting"] * 3
    registry.run(transitions.dispatch(Q, 10))
    ids = [job_id for job_id, _ in made]
    started = registry.run_many(
        [transitions.start(j, Q, 0, W) for j in ids] + [transitions.start("x", Q, 0, W)]
    )
    # Then each ran as run() would have, in order (an unknown job is 'gone', not an error)
    assert started == ["started"] * 3 + ["gone"]
    assert [transitions_of(raw, j) for j in ids] == [[(None, "waiting"), ("waiting", "active")]] * 3
    # When one call of a pipeline is refused, the others still ran, and its error is raised as ours
    again, fresh = made[0][1], submit_call("noop", settings=registry.settings)
    with pytest.raises(JobExists):
        registry.run_many([again, fresh[1]])
    assert registry.get(fresh[0]).state is JobState.WAITING
