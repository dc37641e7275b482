"""A full Redis (maxmemory with noeviction) refuses writes: the API answers 503 and loses nothing."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from devstack import localredis
from services.api.main import build_app
from shared.config import Settings
from tests.api.conftest import ADMIN
from tests.processes import stop


@pytest.fixture
def small_redis(tmp_path: Path) -> Iterator[str]:
    proc, url = localredis.start(tmp_path / "small", maxmemory="3mb")
    yield url
    stop(proc, timeout=10)


async def test_a_full_redis_is_a_503_with_retry_after_and_changes_nothing(
    aiohttp_client: Callable[..., Any], settings: Settings, small_redis: str
) -> None:
    api = await aiohttp_client(build_app(dataclasses.replace(settings, redis_url=small_redis)))
    # Given a job accepted while there is room
    ok = await api.post("/api/v1/jobs", json={"actor": "noop"}, headers=ADMIN)
    assert ok.status == 201
    # and then a Redis filled to its budget
    raw = redis.Redis.from_url(small_redis, decode_responses=True)
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        for i in range(100_000):  # small values: a large one's own buffer would trip the limit alone
            raw.set(f"ballast:{i}", "x" * 1000)
    jobs_before = raw.zcard("fq:jobs")
    # When a job is submitted
    response = await api.post("/api/v1/jobs", json={"actor": "noop"}, headers=ADMIN)
    # Then Redis's refusal is a 503 that says when to retry, and no job was half-made
    assert response.status == 503
    assert response.headers["Retry-After"] == "5"
    assert (await response.json())["error"]["code"] == "redis_full"
    assert raw.zcard("fq:jobs") == jobs_before
    # (Redis denies a script's first write when it starts out of memory, so none of it ran)
    # and reads still work
    assert (await api.get("/api/v1/queues", headers=ADMIN)).status == 200
    raw.close()
