"""Per-queue limits over real HTTP: read by anyone signed in, set by an admin, validated (issue 21)."""

from __future__ import annotations

from typing import Any

import redis
from aiohttp.test_utils import TestClient

from shared import keys
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from tests import typed_redis
from tests.api.conftest import ADMIN, VIEWER

URL = f"/api/v1/queues/{Q}/limits"
LIMITS = {"concurrency": 4, "rate_limit": 20, "rate_window_s": 1}


async def test_limits_are_read_set_validated_audited_and_lifted(
    api: TestClient[Any, Any], raw: redis.Redis
) -> None:
    # Given a queue without limits, everyone signed in sees it unlimited
    got = await (await api.get(URL, headers=VIEWER)).json()
    assert (got["concurrency"], got["rate_limit"], got["in_use"]) == (None, None, 0)
    # A viewer cannot set them; bad values are refused and change nothing
    assert (await api.put(URL, json=LIMITS, headers=VIEWER)).status == 403
    for bad in (
        {**LIMITS, "concurrency": 0},
        {**LIMITS, "rate_limit": -1},
        {**LIMITS, "rate_window_s": 0},
        {**LIMITS, "rate_window_s": 10**9},
        {**LIMITS, "concurrency": True},
        {**LIMITS, "concurrency": 1.5},
        {**LIMITS, "extra": 1},
        {"rate_limit": 3},
    ):
        response = await api.put(URL, json=bad, headers=ADMIN)
        assert response.status == 422, bad
        assert (await response.json())["error"]["code"]
    assert not raw.exists(keys.limits_key(Q))
    # An unknown queue is 404, a malformed one 400
    assert (await api.put("/api/v1/queues/nope/limits", json=LIMITS, headers=ADMIN)).status == 404
    assert (await api.get("/api/v1/queues/nope/limits", headers=VIEWER)).status == 404
    # An admin sets them: returned, listed, audited with who, announced
    response = await api.put(URL, json=LIMITS, headers=ADMIN)
    assert response.status == 200
    body = await response.json()
    assert (body["concurrency"], body["rate_limit"], body["rate_window_s"]) == (4, 20, 1.0)
    listed = await (await api.get("/api/v1/limits", headers=VIEWER)).json()
    assert next(q for q in listed["queues"] if q["queue"] == Q)["concurrency"] == 4
    (_, audit), *_ = typed_redis.xrevrange(raw, keys.AUDIT_STREAM, count=1)
    assert (audit["action"], audit["who"], audit["queue"]) == ("limits", "FQ_ADMIN_TOKEN", Q)
    (_, event), *_ = typed_redis.xrevrange(raw, keys.EVENTS_STREAM, count=1)
    assert event["type"] == "limits"
    # Lifting both makes the queue unlimited again (no hash left for dispatch to read)
    response = await api.put(URL, json={"concurrency": None, "rate_limit": None}, headers=ADMIN)
    assert (await response.json())["concurrency"] is None
    assert not raw.exists(keys.limits_key(Q))
