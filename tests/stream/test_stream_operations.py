"""``operation`` and ``failure`` events reach stream clients on their topics (issue 20)."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from shared import keys, operations, transitions
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.registry import Registry
from shared.submit import submit
from tests.stream.conftest import open_stream


async def test_operation_and_failure_events_reach_clients_of_their_topics(
    gateway: TestClient[Any, Any], registry: Registry
) -> None:
    # Given a client of the operations topic only, and one of the jobs topic
    ops_only = await open_stream(gateway, topics="operations")
    jobs = await open_stream(gateway, topics="jobs")
    assert (await ops_only.next()).event == "snapshot"
    assert (await jobs.next()).event == "snapshot"
    # When a job fails into a new group, and an operation over the failed jobs is created
    job_id = submit(registry, "noop")
    registry.run(transitions.dispatch(Q, 10))
    registry.run(transitions.start(job_id, Q, 0, "w"))
    registry.run(transitions.fail(job_id, Q, 0, "w", "E: x", "tb", "fp-s", "E"))
    source = keys.state_key(Q, "failed")
    registry.run(operations.create("c" * 32, "tester", source, {"action": "retry", "queue": Q}))
    # Then the operations client gets the operation event (and no job event)
    event = await ops_only.until(lambda e: e.event != "stats")
    assert event.event == "operation"
    assert event.json["data"] | {"rate": 0} == event.json["data"] | {
        "id": "c" * 32,
        "state": "queued",
        "total": 1,
        "done": 0,
        "queue": Q,
        "created_by": "tester",
        "rate": 0,
    }
    # and the jobs client gets the new failure group
    failure = await jobs.until(lambda e: e.event == "failure")
    assert failure.json["data"]["fingerprint"] == "fp-s" and failure.json["data"]["queue"] == Q
