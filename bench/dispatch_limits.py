"""Cost of one dispatch call on an unlimited queue against a limited one (issue 21), on a private
redis-server.

Each call hands out one job (between calls the copy is fetched and its job moved to active,
as a worker would). Three
queues' worth of the same jobs: unlimited (the baseline: one HMGET of a missing limits
key on top of the old script), limited but not binding (both limits checked, the hand-out
logged), and limited at its concurrency (nothing handed out: what a blocked consumer pays).
Redis's own time per call (INFO commandstats, EVALSHA) is the figure; wall time includes
the client round trip.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import redis

from bench.report import Results, row
from devstack import localredis
from shared import keys, transitions
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.config import Settings
from shared.limits import Limits, set_limits
from shared.registry import Registry
from shared.submit import submit


def _redis_us_per_call(client: redis.Redis) -> float:
    stats = client.info("commandstats")
    return float(stats["cmdstat_evalsha"]["usec_per_call"])


def _measure(registry: Registry, client: redis.Redis, calls: int, drain: bool) -> tuple[float, float]:
    """(Redis µs per dispatch call, wall µs median) over ``calls`` calls."""
    walls = []
    client.config_resetstat()
    for _ in range(calls):
        t0 = time.perf_counter()
        registry.run(transitions.dispatch(Q, 1))
        walls.append((time.perf_counter() - t0) * 1e6)
        if drain:  # a worker fetches the copy and starts it (outside EVALSHA's figures)
            message_id = client.lpop(keys.dramatiq_queue_key(Q))
            job_id = str(message_id).split(":", 1)[0]
            client.zrem(keys.dispatched_key(Q), job_id)
            client.zrem(keys.state_key(Q, "waiting"), job_id)
            client.zadd(keys.state_key(Q, "active"), {job_id: 0})
    return _redis_us_per_call(client), statistics.median(walls)


def main(calls: int = 2000) -> Results:
    figures: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = localredis.start(Path(tmp))
        try:
            settings = Settings(redis_url=url)
            registry = Registry(settings)
            client = redis.Redis.from_url(url, decode_responses=True)
            for case, limits in (
                ("unlimited", None),
                ("limited", Limits(concurrency=10 * calls, rate_limit=10 * calls, rate_window_s=60)),
                ("blocked", Limits(concurrency=1)),
            ):
                client.flushdb()
                for _ in range(calls + 1):
                    submit(registry, "noop")
                if limits is not None:
                    registry.run(set_limits(Q, limits, who="bench"))
                if case == "blocked":
                    registry.run(transitions.dispatch(Q, 1))  # the one slot is taken from here on
                figures[case] = _measure(registry, client, calls, drain=case != "blocked")
            registry.close()
            client.close()
        finally:
            proc.terminate()
            proc.wait()
    print(f"dispatch cost, {calls} calls each (Redis us per call / client wall median us):")
    for case, (redis_us, wall_us) in figures.items():
        print(f"  {case:<10} {redis_us:6.1f} us in Redis   {wall_us:6.1f} us wall")
    base = figures["unlimited"][0]
    return {
        "dispatch_redis_us_limited": row(figures["limited"][0], "us", base, "unlimited queue, same run"),
        "dispatch_redis_us_blocked": row(figures["blocked"][0], "us", base, "unlimited queue, same run"),
    }


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
