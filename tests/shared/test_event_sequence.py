"""``seq`` is gap-free and ordered across concurrent transitions from several processes."""

from __future__ import annotations

import multiprocessing
import threading

import redis

from shared import actions, keys
from shared.config import Settings
from shared.events import Event, EventType
from shared.registry import Registry
from shared.submit import submit
from tests import typed_redis
from tests.helpers import events
from tests.processes import wait_for

PROCESSES = 4
JOBS_PER_PROCESS = 125  # each job makes two transitions: 4 x 125 x 2 = 1000


def _producer(redis_url: str) -> None:
    registry = Registry(Settings(redis_url=redis_url))
    ids = [submit(registry, "noop") for _ in range(JOBS_PER_PROCESS)]
    for job_id in ids:
        registry.run(actions.delete(job_id, "diagnostics"))
    registry.close()


def test_seq_is_gap_free_across_1000_concurrent_transitions(redis_url: str, raw: redis.Redis) -> None:
    # Given a subscriber on the live channel
    received: list[Event] = []
    pubsub = typed_redis.pubsub(raw)
    pubsub.subscribe(keys.UPDATES_CHANNEL)
    wait_for(lambda: pubsub.get_message(timeout=0.1), what="subscribe confirmation")

    def listen() -> None:
        while len(received) < PROCESSES * JOBS_PER_PROCESS * 3:
            message = pubsub.get_message(timeout=1.0)
            if message and message["type"] == "message":
                received.append(Event.from_message(message["data"]))

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    # When four processes make 1000 transitions at once
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_producer, args=(redis_url,)) for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    listener.join(timeout=30)
    pubsub.close()
    # Then the stream and the channel both carry seq 1..1500, in order, without gaps (a submit,
    # and a delete with its audit event, per job)
    total = PROCESSES * JOBS_PER_PROCESS * 3
    assert [e["seq"] for e in events(raw)] == list(range(1, total + 1))
    assert [e.seq for e in received] == list(range(1, total + 1))
    # and each published event names its stream entry and matches it
    stream_ids = [e["id"] for e in events(raw)]
    assert [e.id for e in received] == stream_ids
    assert {e.type for e in received} == {EventType.JOB, EventType.AUDIT}
    # and every job was removed (into the trash, issue 20): only the streams, the counter, the queue
    # set, its wake token and the trash remain
    trashed = {k for k in typed_redis.keys(raw, "*") if k.startswith(keys.TRASH_JOB_PREFIX)}
    assert len(trashed) == PROCESSES * JOBS_PER_PROCESS
    assert sorted(set(typed_redis.keys(raw, "*")) - trashed) == sorted(
        [
            keys.EVENTS_STREAM,
            keys.EVENTS_SEQ,
            keys.QUEUES,
            keys.AUDIT_STREAM,
            keys.wake_key("diagnostics"),
            keys.TRASH,
        ]
    )


def test_published_event_matches_its_stream_entry(registry: Registry, raw: redis.Redis) -> None:
    pubsub = typed_redis.pubsub(raw)
    pubsub.subscribe(keys.UPDATES_CHANNEL)
    wait_for(lambda: pubsub.get_message(timeout=0.1))
    job_id = submit(registry, "noop", priority=2)
    message = wait_for(lambda: pubsub.get_message(timeout=0.1))
    pubsub.close()
    live = Event.from_message(message["data"])
    entry_id, fields = typed_redis.xrange(raw, keys.EVENTS_STREAM)[0]
    stored = Event.from_stream_entry(entry_id, fields)
    assert live == stored
    assert live.v == 1 and live.type is EventType.JOB
    assert live.data == {
        "job": job_id,
        "queue": "diagnostics",
        "from": None,
        "to": "waiting",
        "priority": 2,
        "actor": "noop",
    }
    assert abs(live.ts - float(raw.time()[0])) < 5
