"""``/api/v1/history/points`` (issue 23): each chart window reads its tier over exactly its span,
oldest first; a queue-scoped caller is served its own queues' figures only."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from aiohttp.test_utils import TestClient

from shared import keys
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.face_jobs import FACE_QUEUE
from shared.history import WINDOWS
from tests.api.conftest import ADMIN, VIEWER
from tests.api.test_keys import bearer, create


def figures(completed: int) -> dict[str, Any]:
    return {"completed": completed, "failed": 0, "waiting": 1, "active": 0, "p50_ms": 5, "p95_ms": 9}


def now_ms(raw: redis.Redis) -> int:
    seconds, micros = raw.time()
    return int(seconds) * 1000 + int(micros) // 1000


def add(raw: redis.Redis, tier: str, t: int, queues: dict[str, Any]) -> None:
    raw.xadd(keys.history_key(tier), {"queues": json.dumps(queues)}, id=f"{t}-0")


@pytest.mark.parametrize("window", ["5m", "1h", "24h", "7d"])
async def test_each_window_reads_its_tier_over_exactly_its_span(
    api: TestClient[Any, Any], raw: redis.Redis, window: str
) -> None:
    # Given points of the window's tier just outside its span, and inside it
    span_ms, tier = WINDOWS[window]
    now = now_ms(raw)
    step = tier.step_ms
    outside = now - span_ms - 2 * step
    inside = [now - span_ms + 2 * step, now - 2 * step, now - step]
    for i, t in enumerate([outside, *inside]):
        add(raw, tier.name, t - t % step, {Q: figures(i)})
    # When the window is read
    response = await api.get("/api/v1/history/points", params={"window": window}, headers=VIEWER)
    assert response.status == 200, await response.text()
    body = await response.json()
    # Then it names its tier and step, and holds the points inside the span only, oldest first
    assert (body["window"], body["tier"], body["step_ms"]) == (window, tier.name, step)
    assert [p["t"] for p in body["points"]] == [t - t % step for t in inside]
    assert [p["queues"][Q]["completed"] for p in body["points"]] == [1, 2, 3]
    assert body["points"][0]["queues"][Q] == figures(1)


async def test_an_unknown_window_is_a_400(api: TestClient[Any, Any]) -> None:
    response = await api.get("/api/v1/history/points", params={"window": "2h"}, headers=VIEWER)
    assert response.status == 400
    assert (await response.json())["error"]["code"]


async def test_a_queue_scoped_caller_gets_its_queues_points_only(
    api: TestClient[Any, Any], raw: redis.Redis
) -> None:
    # Given points that carry two queues
    _, tier = WINDOWS["1h"]
    now = now_ms(raw)
    for back in (3, 2, 1):
        t = now - back * tier.step_ms
        add(raw, tier.name, t - t % tier.step_ms, {Q: figures(7), FACE_QUEUE: figures(back)})
    faces = bearer((await create(api, name="faces", role="viewer", queues=[FACE_QUEUE]))["secret"])
    # When a viewer scoped to one of them reads the chart history
    response = await api.get("/api/v1/history/points", params={"window": "1h"}, headers=faces)
    # Then it is served, each point with that queue's figures and nothing of the other
    assert response.status == 200, await response.text()
    points = (await response.json())["points"]
    assert len(points) == 3
    assert all(set(p["queues"]) == {FACE_QUEUE} for p in points)
    assert [p["queues"][FACE_QUEUE]["completed"] for p in points] == [3, 2, 1]
    # And an unscoped caller still sees both
    full = await (await api.get("/api/v1/history/points", params={"window": "1h"}, headers=ADMIN)).json()
    assert all(set(p["queues"]) == {Q, FACE_QUEUE} for p in full["points"])
