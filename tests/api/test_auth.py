"""Sessions, CSRF and request metrics over real HTTP."""

from __future__ import annotations

from typing import Any

import redis
from aiohttp.test_utils import TestClient

from shared.auth import SESSION_COOKIE
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from tests.api.conftest import ADMIN
from tests.helpers import snapshot


async def test_login_sets_a_strict_http_only_session_that_reads_without_a_token(
    api: TestClient[Any, Any],
) -> None:
    refused = await api.post("/api/v1/session", json={"token": "wrong"})
    assert refused.status == 401
    response = await api.post("/api/v1/session", json={"token": "test-viewer-token"})
    assert response.status == 200 and await response.json() == {"role": "viewer"}
    cookie = response.headers["Set-Cookie"]
    assert f"{SESSION_COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert (await api.get("/api/v1/workers")).status == 200  # the client keeps the cookie
    assert (await api.post(f"/api/v1/queues/{Q}/pause", headers={"X-Facequeue-CSRF": "1"})).status == 403
    out = await api.delete("/api/v1/session")
    assert out.status == 200
    api.session.cookie_jar.clear()
    assert (await api.get("/api/v1/workers")).status == 401


async def test_cookie_mutation_needs_the_csrf_header(api: TestClient[Any, Any], raw: redis.Redis) -> None:
    await api.post("/api/v1/session", json={"token": "test-admin-token"})
    before = snapshot(raw)
    forged = await api.post(f"/api/v1/queues/{Q}/pause")  # what a cross-site form could send
    assert forged.status == 403 and (await forged.json())["error"]["code"] == "csrf"
    assert snapshot(raw) == before
    allowed = await api.post(f"/api/v1/queues/{Q}/pause", headers={"X-Facequeue-CSRF": "1"})
    assert allowed.status == 200


async def test_login_link_sets_the_session_and_redirects_home(api: TestClient[Any, Any]) -> None:
    response = await api.get("/login", params={"token": "test-admin-token"}, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/"
    assert f"{SESSION_COOKIE}=" in response.headers["Set-Cookie"]
    assert (await api.get("/login", params={"token": "nope"}, allow_redirects=False)).status == 401


async def test_requests_and_admin_actions_are_counted(api: TestClient[Any, Any]) -> None:
    await api.post(f"/api/v1/queues/{Q}/pause", headers=ADMIN)
    await api.get("/api/v1/jobs/missing", headers=ADMIN)
    body = await (await api.get("/metrics")).text()
    assert (
        'facequeue_api_requests_total{method="POST",route="/api/v1/queues/{queue}/pause",status="200"} 1.0'
        in body
    )
    assert 'facequeue_api_requests_total{method="GET",route="/api/v1/jobs/{job_id}",status="404"} 1.0' in body
    assert 'facequeue_api_admin_actions_total{action="pause"} 1.0' in body
    assert "facequeue_api_request_duration_seconds_bucket" in body
