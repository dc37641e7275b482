"""A job's life on a real ``dramatiq`` worker subprocess."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis

from shared import keys
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.registry import Registry
from shared.states import JobState
from shared.submit import submit
from tests import typed_redis
from tests.helpers import events, transitions_of
from tests.processes import wait_for


def finished(registry: Registry, job_id: str, state: JobState = JobState.COMPLETED) -> bool:
    return registry.get(job_id).state is state


def test_job_runs_waiting_active_completed_with_result(
    registry: Registry, raw: redis.Redis, start_worker: Callable[..., Any]
) -> None:
    # Given a worker
    start_worker()
    # When a sleep job is submitted
    job_id = submit(registry, "sleep", {"seconds": 0.2})
    wait_for(lambda: finished(registry, job_id), what="completion")
    # Then it went waiting -> active -> completed with its result, progress and worker stored
    job = registry.get(job_id)
    assert transitions_of(raw, job_id) == [(None, "waiting"), ("waiting", "active"), ("active", "completed")]
    assert job.result == {"slept": 0.2}
    assert job.attempts == 1 and job.progress == 100 and job.worker
    assert job.started_ms is not None and job.finished_ms is not None
    assert job.finished_ms - job.started_ms >= 200
    progress = [e["data"]["percent"] for e in events(raw) if e["type"] == "progress"]
    assert progress == sorted(progress) and progress[-1] == 100 and len(progress) == 10
    # and its Dramatiq copy was acked with the completion: no body, no ack-set entry left
    (worker_id,) = typed_redis.zrange(raw, keys.WORKERS)
    assert not raw.hlen(keys.dramatiq_messages_key(Q))
    assert not raw.scard(keys.dramatiq_acks_key(worker_id, Q))


def test_failing_job_retries_with_backoff_then_fails_with_traceback(
    registry: Registry, raw: redis.Redis, start_worker: Callable[..., Any]
) -> None:
    start_worker()
    # When a job that always raises is submitted with two retries
    job_id = submit(registry, "fail", ["kaboom"], max_retries=2)
    wait_for(lambda: finished(registry, job_id, JobState.FAILED), what="failure")
    # Then it ran three times, waiting in delayed between attempts, and ended failed
    assert transitions_of(raw, job_id) == [
        (None, "waiting"),
        ("waiting", "active"),
        ("active", "delayed"),
        ("delayed", "waiting"),
        ("waiting", "active"),
        ("active", "delayed"),
        ("delayed", "waiting"),
        ("waiting", "active"),
        ("active", "failed"),
    ]
    job = registry.get(job_id)
    assert job.attempts == 3
    assert job.error == "CanaryFailure: kaboom"
    assert "Traceback" in job.traceback and "CanaryFailure: kaboom" in job.traceback
    # and the retry backoff was honoured: each retry's eta lies after its failure
    delays = [e for e in events(raw) if e["type"] == "job" and e["data"]["to"] == "delayed"]
    assert all(e["data"]["eta_ms"] > int(e["id"].split("-")[0]) for e in delays)


def test_delayed_job_stays_delayed_until_due(
    registry: Registry, raw: redis.Redis, start_worker: Callable[..., Any]
) -> None:
    start_worker()
    job_id = submit(registry, "noop", delay_ms=1500)
    eta = registry.get(job_id).eta_ms
    assert eta is not None

    # While the Redis clock is before the eta, every look finds it delayed (state read first,
    # so a look that ends before the eta began before it too).
    looks = 0
    while True:
        state = registry.get(job_id).state
        if registry.now_ms() >= eta:
            break
        assert state is JobState.DELAYED
        looks += 1
    assert looks > 10
    wait_for(lambda: finished(registry, job_id), what="completion")
    job = registry.get(job_id)
    assert job.started_ms is not None and job.started_ms >= eta


def test_worker_registers_and_serves_metrics(
    registry: Registry, raw: redis.Redis, start_worker: Callable[..., Any]
) -> None:
    import urllib.request

    group = start_worker(worker_threads=3)
    (worker_id,) = typed_redis.zrange(raw, "fq:workers")
    info = typed_redis.hgetall(raw, f"fq:worker:{worker_id}")
    assert info["queues"] == "diagnostics" and info["threads"] == "3" and info["processes"] == "1"
    assert int(info["pid"]) in group.child_pids()
    job_id = submit(registry, "noop")
    wait_for(lambda: finished(registry, job_id))
    wait_for(lambda: raw.hget(f"fq:worker:{worker_id}", "processed") == "1", what="processed count")
    port = group.settings.worker_metrics_port

    def scrape() -> str:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                return str(r.read().decode())
        except OSError:
            return ""

    body = wait_for(lambda: "facequeue_worker_job_transitions_total" in scrape() and scrape())
    assert 'facequeue_worker_job_transitions_total{queue="diagnostics",to="completed"} 1.0' in body
    assert "dramatiq_messages_total" in body
    # Dramatiq's own Prometheus middleware sees retries: the broker fires the enqueue hooks
    failing = submit(registry, "fail", max_retries=1)
    wait_for(lambda: finished(registry, failing, JobState.FAILED), what="failure")
    retried = 'dramatiq_message_retries_total{actor_name="fail",queue_name="diagnostics"} 1.0'
    wait_for(lambda: retried in scrape(), what="Dramatiq's retry counter")


def test_plain_actor_send_becomes_a_facequeue_job(
    registry: Registry, raw: redis.Redis, start_worker: Callable[..., Any]
) -> None:
    # A producer using Dramatiq's own API still goes through the registry.
    import subprocess
    import sys

    start_worker()
    code = (
        "from services.worker.app import broker; from services.worker.actors.diagnostics import sleep;"
        "print(sleep.send(0.01).message_id)"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        env={**__import__("os").environ, **registry.settings.to_env()},
        capture_output=True,
    )
    wait_for(lambda: registry.counts(["diagnostics"])["diagnostics"]["completed"] == 1, what="completion")
    (job_id,) = typed_redis.zrange(raw, "fq:q:diagnostics:completed")
    assert registry.get(job_id).result == {"slept": 0.01}


def test_worker_logs_json_lines_with_worker_and_job_ids_bound(
    registry: Registry, raw: redis.Redis, start_worker: Callable[..., Any]
) -> None:
    import json

    group = start_worker()
    (worker_id,) = raw.zrange("fq:workers", 0, -1)
    job_id = submit(registry, "fail", ["logged"], max_retries=1)
    wait_for(lambda: finished(registry, job_id, JobState.FAILED), what="failure")
    lines = [json.loads(line) for line in group.log().splitlines() if line.startswith("{")]
    about_job = [line for line in lines if line.get("job_id") == job_id]
    assert about_job, group.log()
    assert all(line["worker"] == worker_id and line["service"] == "worker" for line in about_job)
    assert any("Retrying" in line["event"] for line in about_job)


def test_worker_survives_redis_losing_its_script_cache(
    registry: Registry, raw: redis.Redis, start_worker: Callable[..., Any]
) -> None:
    # Given a worker that has already run a job (its scripts are loaded)
    start_worker()
    first = submit(registry, "noop")
    wait_for(lambda: finished(registry, first))
    # When Redis forgets every script, as after a restart
    raw.script_flush()
    # Then the next job still runs through every transition (redis-py reloads on NOSCRIPT)
    second = submit(registry, "sleep", {"seconds": 0.05})
    wait_for(lambda: finished(registry, second), what="completion after SCRIPT FLUSH")
    assert transitions_of(raw, second)[-1] == ("active", "completed")
