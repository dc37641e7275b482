"""Named API keys over real HTTP, with their records in the real Redis (issue 22)."""

from __future__ import annotations

import json
import time
from typing import Any

import redis
from aiohttp.test_utils import TestClient

from shared import keys
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.face_jobs import FACE_QUEUE
from shared.registry import Registry
from shared.submit import submit
from tests import typed_redis
from tests.api.conftest import ADMIN, VIEWER


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def create(api: TestClient[Any, Any], **body: Any) -> dict[str, Any]:
    response = await api.post("/api/v1/keys", json=body, headers=ADMIN)
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    return created


async def test_a_key_shows_its_secret_once_is_hashed_at_rest_and_records_its_use(
    api: TestClient[Any, Any], raw: redis.Redis
) -> None:
    # When an admin creates a key for Ada
    created = await create(api, name="ada@example.com", role="operator")
    secret = created["secret"]
    assert secret.startswith(f"fq_{created['id']}_") and created["role"] == "operator"
    assert created["created_by"] == "FQ_ADMIN_TOKEN" and created["live"] is True
    # Then Redis holds a keyed hash of it, never the secret
    record = typed_redis.hgetall(raw, keys.api_key_key(created["id"]))
    assert secret not in str(record) and len(record["hash"]) == 64
    assert secret not in str(raw.xrange(keys.AUDIT_STREAM)) and secret not in str(raw.xrange("fq:events"))
    # And the key works, under its own name, and its use is recorded
    me = await (await api.get("/api/v1/session", headers=bearer(secret))).json()
    assert (me["name"], me["role"], me["kind"]) == ("ada@example.com", "operator", "key")
    # And the listing shows it (and the bootstrap tokens) without any secret
    listed = await (await api.get("/api/v1/keys", headers=ADMIN)).json()
    assert "secret" not in str(listed) and secret not in str(listed)
    names = {k["name"]: k for k in listed["keys"]}
    assert names["ada@example.com"]["last_used_ms"] is not None
    assert names["FQ_ADMIN_TOKEN"]["builtin"] and names["FQ_VIEWER_TOKEN"]["role"] == "viewer"
    # And a wrong secret with the right id proves nothing
    forged = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    assert (await api.get("/api/v1/queues", headers=bearer(forged))).status == 401


async def test_only_an_admin_manages_keys(api: TestClient[Any, Any]) -> None:
    operator = (await create(api, name="op", role="operator"))["secret"]
    assert (await api.post("/api/v1/keys", json={"name": "x", "role": "admin"}, headers=VIEWER)).status == 403
    assert (await api.get("/api/v1/keys", headers=bearer(operator))).status == 403
    refused = await api.post("/api/v1/keys", json={"name": "x", "role": "viewer"}, headers=bearer(operator))
    assert refused.status == 403
    # and bad requests are 422, not 500
    for body in (
        {"name": "x", "role": "root"},
        {"name": "a|b", "role": "viewer"},
        {"name": "x", "role": "admin", "queues": [Q]},
        {"name": "x", "role": "viewer", "expires_at": 1},
        {"name": "x", "role": "viewer", "queues": ["no:colons"]},
    ):
        response = await api.post("/api/v1/keys", json=body, headers=ADMIN)
        assert response.status == 422, (body, await response.text())


async def test_a_revoked_key_is_refused_at_once_and_the_audit_names_who(
    api: TestClient[Any, Any],
) -> None:
    # Given a working viewer key
    created = await create(api, name="robot-1", role="viewer")
    secret = created["secret"]
    assert (await api.get("/api/v1/queues", headers=bearer(secret))).status == 200
    # When an admin revokes it
    revoked = await api.delete(f"/api/v1/keys/{created['id']}", headers=ADMIN)
    assert revoked.status == 200 and (await revoked.json())["revoked"] is True
    # Then its very next call is refused, and so is logging in with it
    assert (await api.get("/api/v1/queues", headers=bearer(secret))).status == 401
    assert (await api.post("/api/v1/session", json={"token": secret})).status == 401
    # And revoking again changes nothing; unknown ids and bootstrap tokens say so
    again = await api.delete(f"/api/v1/keys/{created['id']}", headers=ADMIN)
    assert (await again.json())["revoked"] is False
    assert (await api.delete("/api/v1/keys/0123456789abcdef", headers=ADMIN)).status == 404
    assert (await api.delete("/api/v1/keys/FQ_ADMIN_TOKEN", headers=ADMIN)).status == 409
    # And the audit names the key and the admin, with roles
    audit = await (await api.get("/api/v1/audit", params={"person": "FQ_ADMIN_TOKEN"}, headers=ADMIN)).json()
    actions = [(e["action"], e["target"], e["role"]) for e in audit["entries"]]
    assert ("revoke_key", "robot-1", "admin") in actions and ("create_key", "robot-1", "admin") in actions
    listed = await (await api.get("/api/v1/keys", headers=ADMIN)).json()
    row = next(k for k in listed["keys"] if k["id"] == created["id"])
    assert row["live"] is False and row["revoked_by"] == "FQ_ADMIN_TOKEN"


async def test_an_expired_key_stops_working(api: TestClient[Any, Any]) -> None:
    expires_at = int(time.time() * 1000) + 1500
    secret = (await create(api, name="temp", role="viewer", expires_at=expires_at))["secret"]
    assert (await api.get("/api/v1/queues", headers=bearer(secret))).status == 200
    deadline = time.monotonic() + 10
    while (await api.get("/api/v1/queues", headers=bearer(secret))).status == 200:
        assert time.monotonic() < deadline, "the key never expired"
        await api.get("/healthz")  # a round trip between polls, no fixed sleep
    assert (await api.get("/api/v1/queues", headers=bearer(secret))).status == 401


async def test_a_queue_scoped_operator_sees_and_acts_on_only_its_queues(
    api: TestClient[Any, Any], registry: Registry
) -> None:
    # Given a delayed job on the diagnostics queue, and an operator scoped to the face queue
    job = submit(registry, "noop", delay_ms=600_000)
    face_op = bearer((await create(api, name="faces", role="operator", queues=[FACE_QUEUE]))["secret"])
    diag_op = bearer((await create(api, name="diag", role="operator", queues=[Q]))["secret"])
    # Then the other queue's job is not even confirmed, and actions on it are refused
    assert (await api.get(f"/api/v1/jobs/{job}", headers=face_op)).status == 404
    assert (await api.post(f"/api/v1/jobs/{job}/promote", headers=face_op)).status == 403
    assert (await api.delete(f"/api/v1/jobs/{job}", headers=face_op)).status == 403
    assert (await api.post(f"/api/v1/queues/{Q}/pause", headers=face_op)).status == 403
    submitted = await api.post("/api/v1/jobs", json={"actor": "noop"}, headers=face_op)
    assert submitted.status == 403
    # And lists show only its queues
    listed = await (await api.get("/api/v1/jobs", headers=face_op)).json()
    assert listed["jobs"] == []
    assert (await api.get("/api/v1/jobs", params={"queue": Q}, headers=face_op)).status == 404
    queues = await (await api.get("/api/v1/queues", headers=face_op)).json()
    assert [q["name"] for q in queues["queues"]] == [FACE_QUEUE]
    # And endpoints that are not queue-aware refuse scoped callers; admin-only ones refuse operators
    assert (await api.get("/api/v1/workers", headers=face_op)).status == 403
    assert (
        await api.post("/api/v1/jobs/bulk", json={"action": "promote", "ids": [job]}, headers=face_op)
    ).status == 403
    assert (await api.delete("/api/v1/sessions", headers=diag_op)).status == 403
    # While the operator of that queue may act on it, and pause and resume it
    assert (await api.get(f"/api/v1/jobs/{job}", headers=diag_op)).status == 200
    promoted = await api.post(f"/api/v1/jobs/{job}/promote", headers=diag_op)
    assert promoted.status == 200 and (await promoted.json())["state"] == "waiting"
    assert (await api.post(f"/api/v1/queues/{Q}/pause", headers=diag_op)).status == 200
    assert (await api.post(f"/api/v1/queues/{Q}/resume", headers=diag_op)).status == 200
    # And the audit names the operator with its role; a scoped reader sees only its queues' entries
    audit = await (await api.get("/api/v1/audit", params={"person": "diag"}, headers=ADMIN)).json()
    assert [(e["action"], e["role"], e["queue"]) for e in audit["entries"]] == [
        ("resume", "operator", Q),
        ("pause", "operator", Q),
        ("promote", "operator", Q),
    ]
    paused = await (await api.get("/api/v1/audit", params={"action": "pause"}, headers=ADMIN)).json()
    assert [e["who"] for e in paused["entries"]] == ["diag"]
    mine = await (await api.get("/api/v1/audit", headers=face_op)).json()
    assert mine["entries"] == []


async def test_a_key_logs_in_to_a_session_that_ends_with_the_key(api: TestClient[Any, Any]) -> None:
    created = await create(api, name="dash", role="operator", queues=[Q])
    login = await api.post("/api/v1/session", json={"token": created["secret"]})
    body = await login.json()
    assert login.status == 200 and (body["name"], body["queues"], body["kind"]) == ("dash", [Q], "key")
    assert (await api.get("/api/v1/queues")).status == 200
    sessions = await (await api.get("/api/v1/sessions", headers=ADMIN)).json()
    assert [s["name"] for s in sessions["sessions"]] == ["dash"]
    await api.delete(f"/api/v1/keys/{created['id']}", headers=ADMIN)
    assert (await api.get("/api/v1/queues")).status == 401


async def test_an_admin_ends_one_session_by_its_id(api: TestClient[Any, Any]) -> None:
    created = await create(api, name="kim", role="viewer")
    await api.post("/api/v1/session", json={"token": created["secret"]})
    (session,) = (await (await api.get("/api/v1/sessions", headers=ADMIN)).json())["sessions"]
    assert (session["name"], session["kind"], session["address"]) == ("kim", "key", "127.0.0.1")
    ended = await api.delete(f"/api/v1/sessions/{session['id']}", headers=ADMIN)
    assert ended.status == 200 and (await ended.json())["ended"] == 1
    assert (await api.get("/api/v1/queues")).status == 401
    assert (await api.delete(f"/api/v1/sessions/{session['id']}", headers=ADMIN)).status == 404
    audit = await (await api.get("/api/v1/audit", params={"action": "end_sessions"}, headers=ADMIN)).json()
    assert [(e["who"], e["target"], e["count"]) for e in audit["entries"]] == [("FQ_ADMIN_TOKEN", "kim", 1)]


async def test_admin_events_name_who_with_role_and_address(
    api: TestClient[Any, Any], raw: redis.Redis
) -> None:
    created = await create(api, name="lin", role="viewer")
    await api.delete(f"/api/v1/keys/{created['id']}", headers={**ADMIN, "X-Forwarded-For": "198.51.100.4"})
    admin = [json.loads(f["data"]) for _, f in typed_redis.xrange(raw, "fq:events") if f["type"] == "admin"]
    assert [(e["action"], e["who"], e["role"], e["address"]) for e in admin] == [
        ("create_key", "FQ_ADMIN_TOKEN", "admin", "127.0.0.1"),
        ("revoke_key", "FQ_ADMIN_TOKEN", "admin", "127.0.0.1"),  # no trusted proxy: the peer
    ]


async def test_a_scoped_search_reports_no_counts_of_other_queues(
    api: TestClient[Any, Any], registry: Registry
) -> None:
    # Given 5 jobs on the diagnostics queue, and a viewer scoped to two other queues
    for _ in range(5):
        submit(registry, "noop")
    two = bearer(
        (await create(api, name="two-queues", role="viewer", queues=[FACE_QUEUE, "archive"]))["secret"]
    )
    one = bearer((await create(api, name="diag-reader", role="viewer", queues=[Q]))["secret"])
    # When the two-queue viewer searches every queue it may see
    page = await (await api.get("/api/v1/jobs", params={"q": "actor:noop"}, headers=two)).json()
    # Then it gets no job, and no count that includes the other queue's jobs
    assert page["jobs"] == []
    assert page["scanned"] is None and page["candidates"] is None, page
    # While a search of one of its own queues, and an unscoped search, still count
    mine = await api.get("/api/v1/jobs", params={"q": "actor:noop", "queue": FACE_QUEUE}, headers=two)
    assert mine.status == 200 and (await mine.json())["candidates"] is not None
    own = await (await api.get("/api/v1/jobs", params={"q": "actor:noop"}, headers=one)).json()
    assert len(own["jobs"]) == 5 and own["candidates"] == 5
    everyone = await (await api.get("/api/v1/jobs", params={"q": "actor:noop"}, headers=VIEWER)).json()
    assert everyone["candidates"] == 5
