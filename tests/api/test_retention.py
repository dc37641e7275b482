"""Per-queue retention over real HTTP: read by anyone signed in, set and reset by an admin."""

from __future__ import annotations

from typing import Any

import redis
from aiohttp.test_utils import TestClient

from shared.catalog import DIAGNOSTICS_QUEUE as Q
from tests import typed_redis
from tests.api.conftest import ADMIN, VIEWER

OWN = {"completed_age_s": 3600, "completed_count": 500, "failed_age_s": 86400, "failed_count": 50}


async def test_retention_is_listed_set_validated_and_reset(
    api: TestClient[Any, Any], raw: redis.Redis
) -> None:
    # Every queue shows the defaults until it sets its own
    listed = await (await api.get("/api/v1/retention", headers=VIEWER)).json()
    assert listed["defaults"]["completed_age_s"] == 86_400 and listed["defaults"]["failed_count"] == 100_000
    (diag,) = [q for q in listed["queues"] if q["queue"] == Q]
    assert diag["custom"] is False and diag["policy"] == listed["defaults"]
    # A viewer cannot change it; bad policies are refused and change nothing
    assert (await api.put(f"/api/v1/queues/{Q}/retention", json=OWN, headers=VIEWER)).status == 403
    for bad in (
        {**OWN, "completed_count": -1},
        {**OWN, "failed_age_s": 0},
        {k: v for k, v in OWN.items() if k != "failed_count"},
        {**OWN, "completed_count": True},
        {**OWN, "extra": 1},
    ):
        response = await api.put(f"/api/v1/queues/{Q}/retention", json=bad, headers=ADMIN)
        assert response.status == 422, bad
        assert (await response.json())["error"]["code"]
    assert not raw.exists(f"fq:retention:{Q}")
    # An admin sets the queue's own policy: shown, audited
    response = await api.put(f"/api/v1/queues/{Q}/retention", json=OWN, headers=ADMIN)
    assert response.status == 200
    assert await response.json() == {"queue": Q, "policy": OWN, "custom": True}
    listed = await (await api.get("/api/v1/retention", headers=VIEWER)).json()
    assert next(q for q in listed["queues"] if q["queue"] == Q)["policy"] == OWN
    assert [f["action"] for _, f in typed_redis.xrange(raw, "fq:audit")] == ["retention"]
    # and resets it
    response = await api.delete(f"/api/v1/queues/{Q}/retention", headers=ADMIN)
    assert (await response.json())["custom"] is False
    assert not raw.exists(f"fq:retention:{Q}")
