"""A fetch whose reply never arrived: its message sits in a live worker's ack set, unseen by it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, cast

import redis

from shared import actions, keys, transitions
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.registry import Registry
from shared.states import JobState
from shared.submit import submit
from tests import typed_redis
from tests.helpers import transitions_of
from tests.processes import wait_for


def test_a_message_lost_in_a_live_workers_ack_set_is_requeued_and_runs_once(
    registry: Registry, raw: redis.Redis, start_worker: Callable[..., Any]
) -> None:
    # Given a live worker on a paused queue, and a job
    registry.run(actions.pause(Q))
    start_worker()
    (worker_id,) = typed_redis.zrange(raw, keys.WORKERS)
    job_id = submit(registry, "noop")
    # When the job is dispatched and fetched for that worker, but the fetch's reply is lost:
    # the message moves from Dramatiq's list into the worker's ack set, the worker never sees it
    dispatch = transitions.dispatch(Q, 1)
    unpaused = [k if k != keys.PAUSED else "fq:test:not-paused" for k in dispatch.keys]
    assert registry.run(dataclasses.replace(dispatch, keys=unpaused))[1] == 1
    (message_id,) = cast(list[str], raw.lrange(keys.dramatiq_queue_key(Q), 0, -1))
    raw.lrem(keys.dramatiq_queue_key(Q), 1, message_id)
    raw.sadd(keys.dramatiq_acks_key(worker_id, Q), message_id)
    registry.run(actions.resume(Q))
    # Then the worker notices within a few beats, requeues it, and the job runs exactly once
    wait_for(lambda: registry.get(job_id).state is JobState.COMPLETED, timeout=15, what="the lost job to run")
    assert transitions_of(raw, job_id).count(("waiting", "active")) == 1
    assert not raw.smembers(keys.dramatiq_acks_key(worker_id, Q))
