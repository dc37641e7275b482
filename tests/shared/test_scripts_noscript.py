"""A durable call whose EVALSHA meets a primary without the script (a Sentinel failover between
redis-py's SCRIPT EXISTS and the EVALSHA) runs once, not never and not twice (issue 17)."""

from __future__ import annotations

import json
from typing import Any

import redis
import redis.asyncio

from shared import keys
from shared.config import Settings
from shared.registry import AsyncRegistry, Registry
from shared.scripts import Durability
from shared.submit import submit_call
from tests.helpers import events

#: WAIT for a replica the test server does not have: every DURABLE script goes through the
#: pipeline path, and the shortfall is only logged (no script is strict).
POLICY = Durability(replicas=1, timeout_ms=1)


def _flush_after_the_check(client: Any) -> None:
    """The client's next pipeline loses the scripts right after it checked them (the failover)."""
    make = client.pipeline

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = make(*args, **kwargs)
        client.pipeline = make  # only the first
        checked = pipe.load_scripts

        def load_scripts() -> None:
            checked()
            client.script_flush()

        async def load_scripts_async() -> None:
            await checked()
            await client.script_flush()

        pipe.load_scripts = load_scripts_async if isinstance(client, redis.asyncio.Redis) else load_scripts
        return pipe

    client.pipeline = pipeline


def test_a_submission_after_the_scripts_vanished_lands_once(settings: Settings, raw: redis.Redis) -> None:
    registry = Registry(settings, policy=POLICY)
    registry.run(submit_call("noop", settings=settings)[1])  # the scripts are loaded
    job_id, call = submit_call("noop", settings=settings)
    _flush_after_the_check(registry.client)
    assert registry.run(call) == "waiting"
    assert raw.exists(keys.job_key(job_id))
    created = [e for e in events(raw) if job_id in json.dumps(e)]
    assert len(created) == 1, created


async def test_an_async_submission_after_the_scripts_vanished_lands_once(
    settings: Settings, raw: redis.Redis
) -> None:
    registry = AsyncRegistry(settings, policy=POLICY)
    try:
        await registry.run(submit_call("noop", settings=settings)[1])
        job_id, call = submit_call("noop", settings=settings)
        _flush_after_the_check(registry.client)
        assert await registry.run(call) == "waiting"
        created = [e for e in events(raw) if job_id in json.dumps(e)]
        assert len(created) == 1, created
    finally:
        await registry.close()
