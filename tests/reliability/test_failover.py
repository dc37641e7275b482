"""Sentinel failover mid-flow (issue 17): kill -9 the primary, Sentinel promotes the replica.

With ``FQ_REDIS_MIN_REPLICAS_ACK=1`` no submission the API answered 2xx is lost and no
job completes twice; every dashboard is live again without reconnecting by hand. The
promoted replica has no replica of its own, so submissions are refused (503, Retry-After)
until the killed primary is back as its replica: that is what min-replicas-ack 1 promises.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import pytest
import redis

from shared import keys, redis_clients
from shared.config import Settings
from shared.states import JobState
from tests import typed_redis
from tests.reliability import invariants
from tests.reliability.conftest import ResumingClient, eventually, http_status, record_figure
from tests.sentinels import SERVICE, SentinelGroup, sentinel_group  # noqa: F401 (fixture: group)

ADMIN = "test-admin-token-with-thirty-two-chars"
#: Submissions through the API, and their rate: the kill lands after a quarter of them.
JOBS, PER_S = 240, 30
#: Dashboards connected to the gateway throughout.
DASHBOARDS = 50


@pytest.fixture
def settings(group: SentinelGroup, settings: Settings) -> Settings:
    """The suite's settings, in Sentinel mode (the URL's host is never used) with one replica ack."""
    import dataclasses

    return dataclasses.replace(
        settings,
        redis_url="redis://sentinel-names-the-host:1/0",
        redis_sentinels=group.addresses,
        redis_sentinel_service=SERVICE,
        redis_min_replicas_ack=1,
        redis_wait_timeout_ms=500,
    )


@pytest.fixture
def raw(settings: Settings) -> Iterator[redis.Redis]:
    client = redis_clients.sync_client(settings)
    yield client
    client.close()


class ApiProducer(threading.Thread):
    """Submits through ``POST /api/v1/jobs``; keeps the ids the API answered 2xx for."""

    def __init__(self, base: str, total: int, per_s: float) -> None:
        super().__init__(daemon=True)
        self.base, self.total, self.interval = base, total, 1 / per_s
        self.acked: list[str] = []
        self.refused: dict[int, int] = {}
        self.slowest_s = 0.0
        self.unexpected: list[str] = []

    def run(self) -> None:
        body = json.dumps({"actor": "sleep", "args": [0.02]}).encode()
        while len(self.acked) < self.total:
            request = urllib.request.Request(
                f"{self.base}/api/v1/jobs",
                data=body,
                headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"},
            )
            began = time.monotonic()
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    self.acked.append(json.loads(response.read())["id"])
            except urllib.error.HTTPError as exc:
                self.refused[exc.code] = self.refused.get(exc.code, 0) + 1
                if exc.code != 503 or not exc.headers["Retry-After"]:  # a 503 says when to retry
                    self.unexpected.append(f"{exc.code} {exc.headers} {exc.read()!r}")
                    return
            except OSError as exc:
                self.refused[0] = self.refused.get(0, 0) + 1
                self.unexpected.append(repr(exc))
            self.slowest_s = max(self.slowest_s, time.monotonic() - began)
            threading.Event().wait(self.interval)


@pytest.mark.parametrize(
    ("jobs", "failovers", "figure"),
    [
        pytest.param(JOBS, 1, "sentinel_failover", id="mid-flow"),
        # Three failovers in a row, each primary killed once the previous one is back as its replica
        pytest.param(4 * JOBS, 3, "sentinel_failover_soak", id="repeated", marks=pytest.mark.soak),
    ],
)
async def test_sentinel_failovers_lose_no_acknowledged_job_and_run_none_twice(
    jobs: int,
    failovers: int,
    figure: str,
    group: SentinelGroup,
    raw: redis.Redis,
    start_worker: Callable[..., Any],
    start_monitor: Callable[..., Any],
    start_service: Callable[..., Any],
) -> None:
    figures = await failover_scenario(group, raw, start_worker, start_monitor, start_service, jobs, failovers)
    record_figure(figure, **figures)


async def failover_scenario(
    group: SentinelGroup,
    raw: redis.Redis,
    start_worker: Callable[..., Any],
    start_monitor: Callable[..., Any],
    start_service: Callable[..., Any],
    jobs: int,
    failovers: int,
) -> dict[str, float | int]:
    """Jobs through the API with dashboards connected; ``failovers`` times kill -9 the primary."""
    # Given the whole stack on Sentinel, jobs flowing through the API and 50 dashboards live
    start_worker(worker_threads=2)
    start_monitor()
    api = start_service("api")
    gateway = start_service("stream")
    base = f"http://127.0.0.1:{api.settings.api_port}"
    gateway_ready = f"http://127.0.0.1:{gateway.settings.stream_port}/readyz"
    async with aiohttp.ClientSession() as session:
        clients = [
            ResumingClient(f"http://127.0.0.1:{gateway.settings.stream_port}/stream")
            for _ in range(DASHBOARDS)
        ]
        for client in clients:
            client.start(session)
        await eventually(lambda: all(c.snapshots for c in clients), what="dashboards connected")
        producer = ApiProducer(base, jobs, PER_S)
        producer.start()
        promotions: list[float] = []
        ready: list[float] = []
        replica_back: list[float] = []
        for n in range(failovers):

            def flowing(n: int = n) -> bool:
                return len(producer.acked) >= jobs * (n + 1) // (failovers + 3)

            await eventually(flowing, what="jobs flowing")
            # When the primary is killed (-9) mid-flow
            group.kill_primary()
            killed = time.monotonic()
            promoted_s = await asyncio.to_thread(group.wait_promoted)
            promoted = killed + promoted_s
            promotions.append(promoted_s)
            # (the new primary has no replica left, so submissions get 503 until the old one is
            # back, restarted as a supervisor would and turned into a replica by Sentinel)
            group.restart_old_primary()
            # Then the services are ready again soon after Sentinel's promotion
            await eventually(
                lambda: http_status(f"{base}/readyz") == 200, what="api ready on the new primary"
            )
            api_s = time.monotonic() - promoted
            await eventually(
                lambda: http_status(gateway_ready) == 200, what="gateway ready on the new primary"
            )
            ready.append(max(api_s, time.monotonic() - promoted))
            seen_at_promotion = [len(c.seqs) for c in clients]
            await eventually(lambda: group.replicas_of_primary() >= 1, what="old primary back as a replica")
            replica_back.append(time.monotonic() - promoted)
            group.swap_roles()
        await asyncio.to_thread(producer.join, 120 * failovers)
        assert len(producer.acked) == jobs, (producer.refused, producer.unexpected[:5], api.log()[-3000:])

        # And every job the API acknowledged completes, exactly once
        def all_completed() -> bool:
            pipe = raw.pipeline(transaction=False)
            for job_id in producer.acked:
                pipe.hget(keys.job_key(job_id), "state")
            return all(state == JobState.COMPLETED.value for state in pipe.execute())

        await eventually(all_completed, timeout=90, what="every acknowledged job completed")
        drained_s = time.monotonic() - promoted
        assert raw.connection_pool.get_master_address()[1] == group.primary_port  # type: ignore[attr-defined]
        per_state = invariants.check(raw)
        assert set(per_state) == {JobState.COMPLETED.value}, per_state  # nothing stuck
        transitions = invariants.job_transitions(raw)
        completed_twice = [j for j, steps in transitions.items() if steps.count(("active", "completed")) > 1]
        assert completed_twice == []
        started_twice = sum(steps.count(("waiting", "active")) > 1 for steps in transitions.values())
        lost = [j for j in producer.acked if not raw.exists(keys.job_key(j))]
        assert lost == []

        # And every dashboard is live again (resumed or reset), caught up with the new primary
        last_job_seq = max(
            int(fields["seq"])
            for _, fields in typed_redis.xrange(raw, keys.EVENTS_STREAM)
            if fields["type"] == "job"
        )
        await eventually(
            lambda: all(c.seqs and c.seqs[-1] >= last_job_seq for c in clients), what="dashboards caught up"
        )
        assert all(len(c.seqs) > seen for c, seen in zip(clients, seen_at_promotion, strict=True))
        for client in clients:
            await client.stop()
        assert max(ready) <= 5, ready
        return {
            "failovers": failovers,
            "jobs_acknowledged": len(producer.acked),
            "submissions_refused": sum(producer.refused.values()),
            "slowest_submission_s": round(producer.slowest_s, 2),
            "promotion_after_kill_s": round(max(promotions), 2),
            "services_ready_after_promotion_s": round(max(ready), 2),
            "replica_back_after_promotion_s": round(max(replica_back), 2),
            "all_completed_after_last_promotion_s": round(drained_s, 2),
            "lost": len(lost),
            "completed_twice": len(completed_twice),
            "started_twice": started_twice,
            "dashboards": DASHBOARDS,
            "dashboards_reset": sum(c.resets > 0 for c in clients),
            "dashboards_reconnected": sum(c.connects > 1 for c in clients),
        }
