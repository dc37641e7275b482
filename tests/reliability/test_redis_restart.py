"""Redis killed (-9) and restarted mid-flow, with persistence on: nothing lost, nothing run twice."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any, cast

import aiohttp
import redis

from shared import keys
from shared.errors import JobExists, RedisUnavailable
from shared.jobs import new_job_id
from shared.registry import Registry
from shared.states import JobState
from shared.submit import submit_call
from tests import typed_redis
from tests.reliability import invariants
from tests.reliability.conftest import (
    RestartableRedis,
    ResumingClient,
    eventually,
    http_status,
    record_figure,
)

JOBS = 300


class Producer(threading.Thread):
    """Submits jobs at a steady rate; a submission Redis did not answer is retried with the same id."""

    def __init__(self, registry: Registry, total: int, per_s: float) -> None:
        super().__init__(daemon=True)
        self.registry, self.total, self.interval = registry, total, 1 / per_s
        self.ids: list[str] = []
        self.retried = 0

    def run(self) -> None:
        while len(self.ids) < self.total:
            job_id, call = submit_call("sleep", [0.02], settings=self.registry.settings, job_id=new_job_id())
            while True:
                try:
                    self.registry.run(call)
                    break
                except JobExists:  # the first attempt landed; only its reply was lost
                    break
                except RedisUnavailable:
                    self.retried += 1
                    threading.Event().wait(0.1)
            self.ids.append(job_id)
            threading.Event().wait(self.interval)


def diagnose(registry: Registry, raw: redis.Redis, ids: list[str]) -> str:
    """What a stuck run looks like: counts, stuck jobs, Dramatiq's lists and the workers."""
    stuck = [registry.get(j) for j in ids if registry.get(j).state is not JobState.COMPLETED][:5]
    dramatiq_keys = {k: raw.type(k) for k in cast(list[str], raw.keys("dramatiq:*"))}
    return (
        f"counts {registry.counts(['diagnostics'])}\nstuck {stuck}\n"
        f"dispatched {raw.zrange(keys.dispatched_key('diagnostics'), 0, 10, withscores=True)}\n"
        f"dramatiq keys {dramatiq_keys}\nlist {raw.lrange('dramatiq:diagnostics', 0, 10)}\n"
        f"workers {raw.zrange(keys.WORKERS, 0, -1, withscores=True)}\n"
        f"dead {raw.zrange(keys.WORKERS_DEAD, 0, -1)}"
    )


async def test_redis_restart_mid_flow_loses_nothing_and_runs_nothing_twice(
    redis_server: RestartableRedis,
    registry: Registry,
    raw: redis.Redis,
    start_worker: Callable[..., Any],
    start_monitor: Callable[..., Any],
    start_service: Callable[..., Any],
) -> None:
    start_worker(worker_threads=2)
    start_monitor()
    api = start_service("api")
    gateway = start_service("stream")
    api_ready = f"http://127.0.0.1:{api.settings.api_port}/readyz"
    gateway_ready = f"http://127.0.0.1:{gateway.settings.stream_port}/readyz"
    async with aiohttp.ClientSession() as session:
        clients = [
            ResumingClient(f"http://127.0.0.1:{gateway.settings.stream_port}/stream") for _ in range(5)
        ]
        for client in clients:
            client.start(session)
        await eventually(lambda: all(c.snapshots for c in clients), what="dashboards connected")
        # 5 s of submissions: the outage lands mid-flow. The producer's client gives up after one
        # retry (the default, FQ_REDIS_RETRIES, would ride the outage out), so it retries itself.
        impatient = Registry(dataclasses.replace(registry.settings, redis_retries=1))
        producer = Producer(impatient, JOBS, per_s=60)
        producer.start()
        await eventually(lambda: len(producer.ids) >= 60, what="first jobs")
        # When Redis dies mid-flow (jobs running, dashboards connected)...
        redis_server.kill()
        killed = time.monotonic()
        await eventually(lambda: http_status(api_ready) == 503, what="api readiness 503")
        await eventually(lambda: http_status(gateway_ready) == 503, what="gateway readiness 503")
        await asyncio.sleep(3.0)  # longer than worker_dead_s (2 s): every beat goes stale
        # ...and comes back with its AOF
        redis_server.start()
        back = time.monotonic()
        await eventually(lambda: http_status(api_ready) == 200, what="api ready again")
        api_s = time.monotonic() - back
        await eventually(lambda: http_status(gateway_ready) == 200, what="gateway ready again")
        gateway_s = time.monotonic() - back
        await asyncio.to_thread(producer.join, 60)
        assert len(producer.ids) == JOBS and producer.retried > 0
        impatient.close()

        def all_completed() -> bool:
            return registry.counts(["diagnostics"])["diagnostics"][JobState.COMPLETED.value] == JOBS

        try:
            await eventually(all_completed, timeout=120, what="every job completed")
        except AssertionError:
            raise AssertionError(diagnose(registry, raw, producer.ids)) from None
        drained_s = time.monotonic() - back
        # Then the registry matches reality: each job in exactly one state, started and completed once
        per_state = invariants.check(raw)
        assert per_state == {"completed": JOBS}
        transitions = invariants.job_transitions(raw)
        assert sorted(transitions) == sorted(producer.ids)
        for job_id, steps in transitions.items():
            assert steps.count(("waiting", "active")) == 1, invariants.job_events(raw, job_id)
            assert steps.count(("active", "completed")) == 1, (job_id, steps)
        # And every dashboard healed its gap: it saw each job event once, in order, none missing
        stream_seqs = [
            int(fields["seq"])
            for _, fields in typed_redis.xrange(raw, keys.EVENTS_STREAM)
            if fields["type"] == "job"
        ]

        def caught_up() -> bool:
            return all(c.seqs and c.seqs[-1] >= stream_seqs[-1] for c in clients)

        await eventually(caught_up, what="dashboards caught up")
        for client in clients:
            await client.stop()
            job_seqs = [s for s in client.seqs if s in set(stream_seqs)]
            expected = [s for s in stream_seqs if s >= job_seqs[0]]
            assert job_seqs == expected, f"client saw {len(job_seqs)} of {len(expected)} job events"
        # (the gateway kept its clients connected: it re-subscribed and healed from the stream)
        with urllib.request.urlopen(f"http://127.0.0.1:{gateway.settings.stream_port}/metrics") as response:
            metrics = response.read().decode()
        record_figure(
            "redis_restart",
            jobs=JOBS,
            outage_s=round(back - killed, 2),
            api_ready_after_s=round(api_s, 2),
            gateway_ready_after_s=round(gateway_s, 2),
            all_completed_after_s=round(drained_s, 2),
            submissions_retried=producer.retried,
            lost=JOBS - per_state.get("completed", 0),
            started_twice=sum(steps.count(("waiting", "active")) > 1 for steps in transitions.values()),
        )
        reconnects = re.search(r"^facequeue_stream_redis_reconnects_total (\S+)$", metrics, re.M)
        assert reconnects is not None and float(reconnects.group(1)) >= 1
