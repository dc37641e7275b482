"""FacequeueBroker as a broker: join, flush, queue size, unknown actors, the dashboard's
actions on jobs sent from code, and the example app run unmodified."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import dramatiq
import pytest
import redis

from devstack.localredis import free_port
from shared.config import Settings
from shared.errors import JobNotFound
from shared.registry import Registry
from shared.states import JobState
from tests.facequeue.test_options import seen, settled
from tests.processes import ROOT, launch, wait_for

Worker = Callable[..., Any]


def test_join_waits_for_waiting_delayed_and_running_jobs(
    app: ModuleType, registry: Registry, start_app_worker: Worker
) -> None:
    start_app_worker()
    # Given running, waiting and delayed jobs
    sent = [app.sleeper.send(f"join{i}", 0.3) for i in range(6)]
    sent.append(app.sleeper.send_with_options(args=("later", 0), delay=800))
    assert app.broker.do_qsize(app.QUEUE) == 7
    # When a test joins the queue, Dramatiq's way
    app.broker.join(app.QUEUE, timeout=30_000)
    # Then every job had finished
    assert {registry.get(m.message_id).state for m in sent} == {JobState.COMPLETED}
    assert app.broker.do_qsize(app.QUEUE) == 0


def test_join_times_out_as_dramatiq_does(app: ModuleType) -> None:
    app.sleeper.send("never", 0)  # no worker
    with pytest.raises(dramatiq.errors.QueueJoinTimeout):
        app.broker.join(app.QUEUE, timeout=200)


def test_flush_drops_waiting_and_delayed_jobs(app: ModuleType, registry: Registry, raw: redis.Redis) -> None:
    # Given waiting and delayed jobs and no worker
    sent = [app.add.send(1), app.add.send_with_options(args=(2,), delay=60_000)]
    assert app.broker.do_qsize(app.QUEUE) == 2
    # When the queue is flushed
    app.broker.flush_all()
    # Then they are gone from the registry, the counts and Dramatiq's list
    assert app.broker.do_qsize(app.QUEUE) == 0
    for message in sent:
        with pytest.raises(JobNotFound):
            registry.get(message.message_id)
    assert raw.llen(f"dramatiq:{app.QUEUE}") == 0


def test_a_job_whose_actor_no_worker_defines_fails_after_the_grace(
    app: ModuleType, registry: Registry, start_app_worker: Worker
) -> None:
    # Given a worker with a 1 s grace, and an actor only this producer declares
    start_app_worker(unknown_actor_grace_s=1.0, unknown_actor_recheck_s=0.2)

    @dramatiq.actor(queue_name=app.QUEUE, broker=app.broker, actor_name="only_in_the_producer")
    def ghost() -> None:
        """Never runs: no worker has this code."""

    # When it is sent
    message = ghost.send()
    # Then it waits, delayed, saying why; then fails for good instead of looping
    delayed = settled(registry, message.message_id, JobState.DELAYED)
    reason = "no worker consuming 'dropin' defines actor 'only_in_the_producer'"
    assert delayed.error == reason
    failed = settled(registry, message.message_id, JobState.FAILED)
    assert failed.error == reason and failed.attempts == 0
    offers = [e for e in failed.timeline if e.get("reason") == "unknown_actor"]
    assert 2 <= len(offers) <= 10 and offers[-1]["to"] == "failed"


def _call(settings: Settings, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{settings.api_port}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {settings.admin_token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_the_dashboards_actions_work_on_jobs_sent_from_code(
    app: ModuleType,
    settings: Settings,
    registry: Registry,
    raw: redis.Redis,
    start_app_worker: Worker,
    tmp_path: Path,
) -> None:
    own = dataclasses.replace(settings, api_port=free_port())
    api = launch("api", own, own.api_port, tmp_path / "api.log")
    try:
        start_app_worker()
        # Given jobs sent from code to a queue an operator pauses
        later = app.add.send_with_options(args=(1,), kwargs={"scale": 5}, delay=60_000)
        _call(own, "POST", f"/api/v1/queues/{app.QUEUE}/pause")
        first = app.add.send(2)
        doomed = app.add.send(3)
        urgent = app.add.send(4)
        # When the operator promotes, re-prioritises and deletes them through the API
        assert _call(own, "POST", f"/api/v1/jobs/{later.message_id}/promote")["state"] == "waiting"
        _call(own, "PUT", f"/api/v1/jobs/{urgent.message_id}/priority", {"priority": 0})
        _call(own, "DELETE", f"/api/v1/jobs/{doomed.message_id}")
        # Then the queue holds them most urgent first (the promoted one queued as of its promotion)
        waiting = _call(own, "GET", f"/api/v1/jobs?queue={app.QUEUE}&state=waiting")["jobs"]
        assert [j["id"] for j in waiting] == [urgent.message_id, first.message_id, later.message_id]
        # and once resumed they run, the deleted one never
        _call(own, "POST", f"/api/v1/queues/{app.QUEUE}/resume")
        for message, result in ((later, 5), (first, 2), (urgent, 4)):
            assert settled(registry, message.message_id, JobState.COMPLETED).result == result
        assert doomed.message_id not in [entry["id"] for entry in seen(raw, "add")]
        # and the API shows a code-sent job with its keyword arguments
        shown = _call(own, "GET", f"/api/v1/jobs/{later.message_id}")
        assert shown["kwargs"] == {"scale": 5} and shown["actor"] == "add"
        # and a failed one is retried from the dashboard: it runs again
        once = app.never_retry.send("retried")
        settled(registry, once.message_id, JobState.FAILED)
        _call(own, "POST", f"/api/v1/jobs/{once.message_id}/retry")
        wait_for(lambda: len(seen(raw, "retried")) == 2, what="second run")
        assert settled(registry, once.message_id, JobState.FAILED).attempts == 1
    finally:
        api.stop()


def test_the_example_app_runs_by_changing_only_its_broker_line(redis_url: str, registry: Registry) -> None:
    # The example is an ordinary Dramatiq app but for one line
    source = (ROOT / "examples" / "orders.py").read_text()
    ours = [line for line in source.splitlines() if "facequeue" in line and "import" in line]
    assert ours == ["from facequeue import FacequeueBroker"]
    assert "broker = FacequeueBroker(url=REDIS_URL)  # was: broker = RedisBroker(url=REDIS_URL)" in source
    # make example's run: its own worker (the dramatiq CLI), its sends, its results
    done = subprocess.run(
        [sys.executable, "-m", "examples"],
        cwd=ROOT,
        env={**os.environ, "FQ_REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "invoice: 22.40 EUR" in done.stdout
    jobs, _ = registry.run(_search("orders"))
    by_outcome = sorted((j.actor, j.state.value, j.attempts, j.error.split(":")[0]) for j in jobs)
    assert by_outcome == [
        ("charge", "completed", 1, ""),
        ("charge", "completed", 2, ""),  # order 1007: the gateway timed out once
        ("charge", "failed", 1, "PaymentDeclined"),  # thrown: not retried
        ("export", "completed", 1, ""),
        ("export", "failed", 1, "TimeLimitExceeded"),
        ("invoice", "completed", 1, ""),
        ("total", "completed", 1, ""),
    ]


def _search(queue: str) -> Any:
    from shared import reads

    return reads.search_jobs(limit=50, queue=queue)


def test_the_broker_takes_redis_brokers_connection_arguments(redis_url: str, registry: Registry) -> None:
    from urllib.parse import urlparse

    from facequeue import FacequeueBroker

    address = urlparse(redis_url)
    # Given brokers built as RedisBroker accepts: connection parameters, or a client
    by_parameters = FacequeueBroker(host=address.hostname, port=address.port, middleware=[])
    assert address.hostname and address.port
    by_client = FacequeueBroker(client=redis.Redis(host=address.hostname, port=address.port))
    for broker in (by_parameters, by_client):

        @dramatiq.actor(queue_name="connected", broker=broker)
        def noted(x: int) -> None:
            """Sent only."""

        # When a message is sent, the job lands in that Redis, its record readable
        message = noted.send(7)
        assert registry.get(message.message_id).args == [7]
        assert broker.do_qsize("connected") >= 1
        broker.close()
    # A queue name facequeue cannot hold in its keys is refused when the actor is declared
    with pytest.raises(ValueError, match="queue names are"):
        dramatiq.actor(queue_name="orders.eu", broker=by_client)(lambda: None)
    # A namespace other than Dramatiq's is refused at once, not silently split
    with pytest.raises(ValueError, match="keys under 'dramatiq'"):
        FacequeueBroker(url=redis_url, namespace="elsewhere")
