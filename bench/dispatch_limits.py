"""Cost of one dispatch call on an unlimited queue against the script before limits and against a
limited queue (issue 21), on a private redis-server.

Each call hands out one job (between calls the copy is fetched and its job moved to active,
as a worker would). Four cases over the same jobs: ``pre-limits`` (jobs_dispatch.lua with its
marked limits block cut out, generated here from the real script, so the baseline is the
script as it would be without limits, never a stale copy), ``unlimited`` (the real script on a
queue with no limits: one HMGET of a missing key more), ``limited`` but not binding (both limits
checked, the hand-out logged), and ``blocked`` at its concurrency (nothing handed out: what a
blocked consumer pays). The first two alternate in blocks of calls on one queue, so drift
hits both alike. Redis's own time per call (INFO commandstats, EVALSHA) is the figure; wall
time includes the client round trip.
"""

from __future__ import annotations

import re
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
from shared.scripts import Lua, load_source
from shared.submit import submit

#: The limits block of jobs_dispatch.lua and the line that stands for it without limits.
_LIMITS_BLOCK = re.compile(
    r"^ *-- limits: begin \(.*?replaced by: (?P<without>[^\n]*?)\)\n.*?^ *-- limits: end\n", re.M | re.S
)
#: Unlimited dispatch's Redis time over the pre-limits script's: at most this ("unchanged").
TARGET_RATIO = 1.05


def pre_limits_source() -> str:
    """jobs_dispatch.lua as Redis runs it, with the marked limits block cut out."""
    source, found = _LIMITS_BLOCK.subn(lambda m: f"  {m.group('without')}\n", load_source(Lua.JOBS_DISPATCH))
    if found != 1:
        raise RuntimeError("jobs_dispatch.lua lost its '-- limits: begin/end' markers")
    return source


def _pre_limits_registry(settings: Settings) -> Registry:
    """A registry whose dispatch calls run the pre-limits script (every other script as is)."""
    registry = Registry(settings)
    registry.scripts._scripts[Lua.JOBS_DISPATCH] = registry.client.register_script(pre_limits_source())
    return registry


def _redis_us_per_call(client: redis.Redis) -> float:
    stats = client.info("commandstats")
    return float(stats["cmdstat_evalsha"]["usec_per_call"])


def _measure(registry: Registry, client: redis.Redis, calls: int, drain: bool) -> tuple[float, float]:
    """(Redis µs per dispatch call, wall µs median) over ``calls`` calls."""
    walls = []
    client.config_resetstat()
    for _ in range(calls):
        t0 = time.perf_counter()
        sent = registry.run(transitions.dispatch(Q, 1)).sent
        walls.append((time.perf_counter() - t0) * 1e6)
        if sent != int(drain):
            raise RuntimeError(f"a dispatch call handed out {sent} jobs, not {int(drain)}")
        if drain:  # a worker fetches the copy and starts it (outside EVALSHA's figures)
            message_id = client.lpop(keys.dramatiq_queue_key(Q))
            job_id = str(message_id).split(":", 1)[0]
            client.zrem(keys.dispatched_key(Q), job_id)
            client.zrem(keys.state_key(Q, "waiting"), job_id)
            client.zadd(keys.state_key(Q, "active"), {job_id: 0})
    return _redis_us_per_call(client), statistics.median(walls)


def _fill(registry: Registry, client: redis.Redis, calls: int) -> int:
    """An empty database with ``calls`` + 1 waiting jobs; returns ``calls``."""
    client.flushdb()
    for _ in range(calls + 1):
        submit(registry, "noop")
    return calls


def main(calls: int = 2000, block: int = 50) -> Results:
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = localredis.start(Path(tmp))
        try:
            settings = Settings(redis_url=url)
            registry = Registry(settings)
            client = redis.Redis.from_url(url, decode_responses=True)
            baseline = _pre_limits_registry(settings)
            # A first pass warms Redis and the scripts up; it is not counted.
            _measure(registry, client, _fill(registry, client, min(calls, 500)), drain=True)
            # Pre-limits and unlimited act alike on an unlimited queue: they share one queue's
            # jobs and alternate block by block, so a neighbour's load hits both alike.
            _fill(registry, client, 2 * calls)
            blocks: dict[str, list[tuple[float, float]]] = {"pre-limits": [], "unlimited": []}
            sides = [("pre-limits", baseline), ("unlimited", registry)]
            for i in range(max(1, calls // block)):
                for case, runner in sides if i % 2 else sides[::-1]:  # either goes first by turns
                    blocks[case].append(_measure(runner, client, block, drain=True))
            figures = {
                case: (statistics.median(r for r, _ in got), statistics.median(w for _, w in got))
                for case, got in blocks.items()
            }
            # Each pair of neighbouring blocks shares the machine's load: their ratio's median is
            # the steadier reading of the difference when neighbours come and go.
            pairs = [u / p for (p, _), (u, _) in zip(blocks["pre-limits"], blocks["unlimited"], strict=True)]
            print(
                f"  unlimited / pre-limits, median over {len(pairs)} neighbouring block pairs: "
                f"{statistics.median(pairs):.3f}"
            )
            roomy = Limits(concurrency=10 * calls, rate_limit=10 * calls, rate_window_s=60)
            for case, limits in (("limited", roomy), ("blocked", Limits(concurrency=1))):
                _fill(registry, client, calls)
                registry.run(set_limits(Q, limits, who="bench"))
                if case == "blocked":
                    registry.run(transitions.dispatch(Q, 1))  # the one slot is taken from here on
                figures[case] = _measure(registry, client, calls, drain=case != "blocked")
            baseline.close()
            registry.close()
            client.close()
        finally:
            proc.terminate()
            proc.wait()
    print(f"dispatch cost, {calls} calls each (pre-limits and unlimited: alternating blocks of {block},")
    print("median of the blocks), Redis us per call / client wall median us:")
    for case, (redis_us, wall_us) in figures.items():
        print(f"  {case:<10} {redis_us:6.1f} us in Redis   {wall_us:6.1f} us wall")
    pre, base = figures["pre-limits"][0], figures["unlimited"][0]
    return {
        "dispatch_redis_us_unlimited": row(
            base,
            "us",
            pre,
            "same script without its limits block, same run",
            target=f"ratio <= {TARGET_RATIO}",
            ok=base <= TARGET_RATIO * pre,
        ),
        "dispatch_redis_us_limited": row(figures["limited"][0], "us", base, "unlimited queue, same run"),
        "dispatch_redis_us_blocked": row(figures["blocked"][0], "us", base, "unlimited queue, same run"),
    }


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
