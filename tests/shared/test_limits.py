"""The dispatch script's limits, driven call by call against a real redis-server (issue 21)."""

from __future__ import annotations

import asyncio
import re

import redis

from shared import actions, keys, transitions
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.limits import Limits, Usage, read_usage, set_limits
from shared.registry import AsyncRegistry, Registry
from shared.states import JobState
from shared.submit import submit
from tests import typed_redis

W = "worker-a"


def handed_out(raw: redis.Redis) -> int:
    return int(raw.zcard(keys.dispatched_key(Q))) + int(raw.zcard(keys.state_key(Q, JobState.ACTIVE)))


def start_all(registry: Registry, raw: redis.Redis) -> list[str]:
    """Start every dispatched job (as workers would); returns their ids."""
    ids: list[str] = list(typed_redis.zrange(raw, keys.dispatched_key(Q), 0, -1))
    for job_id in ids:
        assert registry.run(transitions.start(job_id, Q, registry.get(job_id).gen, W)) == "started"
    return ids


def test_concurrency_limit_counts_dispatched_and_active_jobs(registry: Registry, raw: redis.Redis) -> None:
    # Given ten waiting jobs and a concurrency limit of 3
    ids = [submit(registry, "noop") for _ in range(10)]
    registry.run(set_limits(Q, Limits(concurrency=3), who="test"))
    # When dispatch asks for ten, Then three are handed out and the rest are marked as limited
    out = registry.run(transitions.dispatch(Q, 10))
    assert (out.sent, out.limited) == (3, True)
    assert handed_out(raw) == 3
    # When they start (still holding their slots), Then nothing more goes out
    started = start_all(registry, raw)
    assert registry.run(transitions.dispatch(Q, 10)).sent == 0
    # When one completes, Then exactly one more goes out, and it reports the time it was held back
    assert registry.run(transitions.complete(started[0], Q, registry.get(started[0]).gen, W, "null"))
    out = registry.run(transitions.dispatch(Q, 10))
    assert out.sent == 1
    assert out.limited_wait_ms >= 0
    assert handed_out(raw) == 3
    assert set(ids) >= set(started)


def test_failure_retry_and_delete_free_their_slots(registry: Registry, raw: redis.Redis) -> None:
    for _ in range(6):
        submit(registry, "noop")
    registry.run(set_limits(Q, Limits(concurrency=2), who="test"))
    registry.run(transitions.dispatch(Q, 10))
    a, b = start_all(registry, raw)
    # A failure frees one slot
    assert registry.run(transitions.fail(a, Q, registry.get(a).gen, W, "Boom: x", "tb"))
    assert registry.run(transitions.dispatch(Q, 10)).sent == 1
    # Deleting a dispatched (not yet started) job frees its slot
    (c,) = [j for j in typed_redis.zrange(raw, keys.dispatched_key(Q), 0, -1)]
    registry.run(actions.delete(c, Q))
    assert registry.run(transitions.dispatch(Q, 10)).sent == 1
    # A retry with backoff (active -> delayed) frees one too
    assert registry.run(transitions.retry_later(b, Q, registry.get(b).gen, W, 60_000, "E: x", "tb"))
    assert registry.run(transitions.dispatch(Q, 10)).sent == 1
    assert handed_out(raw) == 2


def test_limit_change_takes_effect_on_the_next_dispatch(registry: Registry, raw: redis.Redis) -> None:
    for _ in range(10):
        submit(registry, "noop")
    registry.run(set_limits(Q, Limits(concurrency=1), who="test"))
    assert registry.run(transitions.dispatch(Q, 10)).sent == 1
    registry.run(set_limits(Q, Limits(concurrency=4), who="test"))
    assert registry.run(transitions.dispatch(Q, 10)).sent == 3
    registry.run(set_limits(Q, Limits(), who="test"))
    assert not raw.exists(keys.limits_key(Q))
    assert registry.run(transitions.dispatch(Q, 10)).sent == 6


def test_rate_limit_bounds_hand_outs_per_window(registry: Registry, raw: redis.Redis) -> None:
    for _ in range(20):
        submit(registry, "noop")
    # A long window, so the test never races the clock
    registry.run(set_limits(Q, Limits(rate_limit=5, rate_window_s=600), who="test"))
    assert registry.run(transitions.dispatch(Q, 20)).sent == 5
    start_all(registry, raw)
    out = registry.run(transitions.dispatch(Q, 20))
    assert (out.sent, out.limited) == (0, True)
    # Raising the rate lets exactly the difference through at once
    registry.run(set_limits(Q, Limits(rate_limit=8, rate_window_s=600), who="test"))
    assert registry.run(transitions.dispatch(Q, 20)).sent == 3


def test_both_limits_apply_and_the_smaller_wins(registry: Registry, raw: redis.Redis) -> None:
    for _ in range(20):
        submit(registry, "noop")
    registry.run(set_limits(Q, Limits(concurrency=10, rate_limit=4, rate_window_s=600), who="test"))
    assert registry.run(transitions.dispatch(Q, 20)).sent == 4


def test_unlimited_queue_is_not_marked_limited(registry: Registry, raw: redis.Redis) -> None:
    for _ in range(5):
        submit(registry, "noop")
    out = registry.run(transitions.dispatch(Q, 3))
    assert (out.sent, out.limited, out.limited_wait_ms) == (3, False, 0)
    assert not raw.exists(keys.handouts_key(Q))


def test_setting_limits_is_audited_and_announced(registry: Registry, raw: redis.Redis) -> None:
    registry.run(set_limits(Q, Limits(concurrency=2, rate_limit=20, rate_window_s=1), who="admin|10.0.0.9"))
    (_, entry), *_ = typed_redis.xrevrange(raw, keys.AUDIT_STREAM, count=1)
    assert (entry["who"], entry["action"], entry["queue"], entry["address"]) == (
        "admin",
        "limits",
        Q,
        "10.0.0.9",
    )
    (_, event), *_ = typed_redis.xrevrange(raw, keys.EVENTS_STREAM, count=1)
    assert event["type"] == "limits"


def test_usage_reports_slots_and_window(registry: Registry, raw: redis.Redis) -> None:
    for _ in range(5):
        submit(registry, "noop")
    registry.run(set_limits(Q, Limits(concurrency=3, rate_limit=10, rate_window_s=600), who="test"))
    registry.run(transitions.dispatch(Q, 10))

    async def read() -> Usage:
        areg = AsyncRegistry(registry.settings)
        try:
            return await read_usage(areg, Q)
        finally:
            await areg.close()

    usage = asyncio.run(read())
    assert (usage.in_use, usage.in_window) == (3, 3)
    assert usage.limits == Limits(3, 10, 600.0)


def test_limited_wait_is_counted_from_the_first_hold_back(registry: Registry, raw: redis.Redis) -> None:
    # Given a job held back by a concurrency limit (its hold-back stamped 1.5 s ago)
    first, held = submit(registry, "noop"), submit(registry, "noop")
    registry.run(set_limits(Q, Limits(concurrency=1), who="test"))
    assert registry.run(transitions.dispatch(Q, 2)).limited
    raw.hset(keys.job_key(held), "limited_ms", registry.now_ms() - 1500)
    # When the slot frees and it is handed out
    start_all(registry, raw)
    assert registry.run(transitions.complete(first, Q, registry.get(first).gen, W, "null"))
    out = registry.run(transitions.dispatch(Q, 2))
    # Then the call and the queue's counter report the wait, and the stamp is gone
    assert out.sent == 1 and 1500 <= out.limited_wait_ms < 60_000
    assert int(raw.get(keys.limited_wait_key(Q)) or 0) == out.limited_wait_ms
    assert not raw.hexists(keys.job_key(held), "limited_ms")


def test_monitor_exports_limits_their_use_and_the_wait(registry: Registry, raw: redis.Redis) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from services.monitor import limits as monitor_limits
    from shared.metrics import MonitorMetrics

    for _ in range(3):
        submit(registry, "noop")
    registry.run(set_limits(Q, Limits(concurrency=2, rate_limit=5, rate_window_s=600), who="test"))
    registry.run(transitions.dispatch(Q, 3))
    raw.set(keys.limited_wait_key(Q), 2500)
    collector = CollectorRegistry()
    metrics = MonitorMetrics(collector)

    async def export() -> None:
        areg = AsyncRegistry(registry.settings)
        try:
            await monitor_limits.export(areg, metrics, [Q, "face_search"])
        finally:
            await areg.close()

    asyncio.run(export())

    def sample(name: str, **labels: str) -> float | None:
        return collector.get_sample_value(name, labels)

    assert sample("facequeue_queue_limit", queue=Q, kind="concurrency") == 2
    assert sample("facequeue_queue_limit_used", queue=Q, kind="concurrency") == 2
    assert sample("facequeue_queue_limit", queue=Q, kind="rate") == 5
    assert sample("facequeue_queue_limit_used", queue=Q, kind="rate") == 2
    assert sample("facequeue_queue_limited_wait_seconds_total", queue=Q) == 2.5
    exposition = generate_latest(collector).decode()
    assert re.search(r"^# TYPE facequeue_queue_limited_wait_seconds(_total)? counter$", exposition, re.M)
    # The total is Redis's: the next read follows it (no sum kept in the monitor)
    raw.set(keys.limited_wait_key(Q), 4000)
    asyncio.run(export())
    assert sample("facequeue_queue_limited_wait_seconds_total", queue=Q) == 4.0
    assert sample("facequeue_queue_limit", queue="face_search", kind="concurrency") is None
