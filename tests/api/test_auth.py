"""Sessions, CSRF and request metrics over real HTTP, with session records in the real Redis."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable
from typing import Any

import redis
from aiohttp.test_utils import TestClient

from services.api.main import build_app
from shared import keys
from shared.auth import Role
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.config import Settings
from shared.sessions import SESSION_COOKIE, issue_login_code
from tests import typed_redis
from tests.api.conftest import ADMIN, VIEWER
from tests.helpers import resign, session_cookie, snapshot

CSRF = {"X-Facequeue-CSRF": "1"}
ADMIN_TOKEN = ADMIN["Authorization"].split()[1]
VIEWER_TOKEN = VIEWER["Authorization"].split()[1]


async def _with_cookie(api: TestClient[Any, Any], method: str, path: str, cookie: str, **kw: Any) -> int:
    """Status of one request that carries exactly this session cookie (and no jar)."""
    api.session.cookie_jar.clear()
    response = await api.request(method, path, headers={"Cookie": f"{SESSION_COOKIE}={cookie}", **kw})
    return response.status


async def test_login_opens_a_server_side_session_bound_to_the_token(
    api: TestClient[Any, Any], raw: redis.Redis, settings: Settings
) -> None:
    # Given a wrong token, Then no session
    refused = await api.post("/api/v1/session", json={"token": "wrong"})
    assert refused.status == 401 and "Set-Cookie" not in refused.headers
    # When the viewer logs in
    response = await api.post("/api/v1/session", json={"token": VIEWER_TOKEN})
    body = await response.json()
    assert response.status == 200 and body["role"] == "viewer" and body["via"] == "cookie"
    set_cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
    assert "Secure" not in set_cookie  # plain HTTP, no trusted proxy saying otherwise
    assert f"Max-Age={settings.session_ttl_s}" in set_cookie
    # Then the record lives in Redis, bound to the token's fingerprint, not holding the token
    session_id = session_cookie(response).split(".")[0]
    record = typed_redis.hgetall(raw, keys.session_key(session_id))
    assert record["role"] == "viewer" and record["address"] == "127.0.0.1"
    assert VIEWER_TOKEN not in str(record) and len(record["fp"]) == 32
    assert 0 < raw.ttl(keys.session_key(session_id)) <= settings.session_ttl_s
    # And the cookie reads without a token, shows its own session, and may not change anything
    assert (await api.get("/api/v1/workers")).status == 200
    mine = await (await api.get("/api/v1/session")).json()
    assert mine["role"] == "viewer" and mine["via"] == "cookie"
    assert mine["expires_ms"] - mine["created_ms"] == settings.session_ttl_s * 1000
    assert (await api.post(f"/api/v1/queues/{Q}/pause", headers=CSRF)).status == 403


async def test_logout_deletes_the_record_so_every_copy_of_the_cookie_is_dead(
    api: TestClient[Any, Any], raw: redis.Redis
) -> None:
    # Given an admin session whose cookie was copied
    cookie = session_cookie(await api.post("/api/v1/session", json={"token": ADMIN_TOKEN}))
    assert await _with_cookie(api, "GET", "/api/v1/stats", cookie) == 200
    # When the browser logs out
    api.session.cookie_jar.update_cookies({SESSION_COOKIE: cookie})
    out = await api.delete("/api/v1/session")
    assert out.status == 200 and (await out.json())["role"] is None
    # Then the record is gone and the copy no longer works
    assert not raw.exists(keys.session_key(cookie.split(".")[0]))
    assert await _with_cookie(api, "GET", "/api/v1/stats", cookie) == 401
    assert (await (await api.get("/api/v1/session")).json())["role"] is None


async def test_rotating_a_token_ends_the_sessions_it_opened(
    api: TestClient[Any, Any], aiohttp_client: Callable[..., Any], settings: Settings
) -> None:
    # Given an admin and a viewer session
    admin = session_cookie(await api.post("/api/v1/session", json={"token": ADMIN_TOKEN}))
    viewer = session_cookie(await api.post("/api/v1/session", json={"token": VIEWER_TOKEN}))
    # When the API restarts with a new admin token (same secret, same Redis)
    rotated = dataclasses.replace(settings, admin_token="a-brand-new-admin-token-after-rotation")
    after: TestClient[Any, Any] = await aiohttp_client(build_app(rotated))
    # Then the admin session is over, while the viewer's (token unchanged) lives on
    assert await _with_cookie(after, "GET", "/api/v1/stats", admin) == 401
    assert await _with_cookie(after, "GET", "/api/v1/stats", viewer) == 200
    # And the replica still holding the old token still honours it: the binding is per token
    assert await _with_cookie(api, "GET", "/api/v1/stats", admin) == 200


async def test_an_admin_ends_every_session_and_it_is_audited_with_the_client_address(
    aiohttp_client: Callable[..., Any], settings: Settings, raw: redis.Redis
) -> None:
    proxied = dataclasses.replace(settings, trusted_proxies=("127.0.0.1/32",))
    api: TestClient[Any, Any] = await aiohttp_client(build_app(proxied))
    admin = session_cookie(await api.post("/api/v1/session", json={"token": ADMIN_TOKEN}))
    viewer = session_cookie(await api.post("/api/v1/session", json={"token": VIEWER_TOKEN}))
    api.session.cookie_jar.clear()
    # A viewer may not
    assert (await api.delete("/api/v1/sessions", headers=VIEWER)).status == 403
    # When an admin behind the proxy ends them all
    response = await api.delete("/api/v1/sessions", headers={**ADMIN, "X-Forwarded-For": "203.0.113.5"})
    assert response.status == 200 and await response.json() == {"ended": 2}
    # Then neither cookie works, and the audit says who, from where, how many
    assert await _with_cookie(api, "GET", "/api/v1/stats", admin) == 401
    assert await _with_cookie(api, "GET", "/api/v1/stats", viewer) == 401
    audit = await (await api.get("/api/v1/audit", headers=ADMIN)).json()
    entry = audit["entries"][0]
    assert (entry["action"], entry["who"], entry["role"], entry["count"], entry["address"]) == (
        "end_sessions",
        "FQ_ADMIN_TOKEN",
        "admin",
        2,
        "203.0.113.5",
    )
    # And logging in again works
    again = session_cookie(await api.post("/api/v1/session", json={"token": VIEWER_TOKEN}))
    assert await _with_cookie(api, "GET", "/api/v1/stats", again) == 200


async def test_cookie_expiry_follows_the_configured_ttl_not_the_cookie(
    api: TestClient[Any, Any], aiohttp_client: Callable[..., Any], settings: Settings
) -> None:
    # Given a live session whose cookie was issued an hour ago (its record still lives)
    cookie = session_cookie(await api.post("/api/v1/session", json={"token": ADMIN_TOKEN}))
    hour_old = resign(settings.secret, cookie, int(time.time()) - 3600)
    assert await _with_cookie(api, "GET", "/api/v1/stats", hour_old) == 200
    # When the session TTL is now 30 minutes, Then the cookie is over, whatever its record says
    shorter: TestClient[Any, Any] = await aiohttp_client(
        build_app(dataclasses.replace(settings, session_ttl_s=1800))
    )
    assert await _with_cookie(shorter, "GET", "/api/v1/stats", hour_old) == 401
    # And cookies dated in the future, or signed with another secret, never work
    future = resign(settings.secret, cookie, int(time.time()) + 3600)
    assert await _with_cookie(api, "GET", "/api/v1/stats", future) == 401
    forged = resign("dev-insecure-secret", cookie, int(time.time()))
    assert await _with_cookie(api, "GET", "/api/v1/stats", forged) == 401


async def test_cookie_mutation_needs_the_csrf_header(api: TestClient[Any, Any], raw: redis.Redis) -> None:
    await api.post("/api/v1/session", json={"token": ADMIN_TOKEN})
    before = snapshot(raw)
    forged = await api.post(f"/api/v1/queues/{Q}/pause")  # what a cross-site form could send
    assert forged.status == 403 and (await forged.json())["error"]["code"] == "csrf"
    assert snapshot(raw) == before
    allowed = await api.post(f"/api/v1/queues/{Q}/pause", headers=CSRF)
    assert allowed.status == 200


async def test_tokens_in_urls_no_longer_log_anyone_in(api: TestClient[Any, Any]) -> None:
    response = await api.get("/login", params={"token": ADMIN_TOKEN}, allow_redirects=False)
    assert response.status == 410 and (await response.json())["error"]["code"] == "gone"
    assert "Set-Cookie" not in response.headers
    for method in ("GET", "PUT"):
        refused = await api.request(method, "/api/v1/session/code", params={"code": "x"})
        assert refused.status == 405


async def test_a_one_time_login_code_opens_one_session_once(
    api: TestClient[Any, Any], raw: redis.Redis, settings: Settings
) -> None:
    # Given a code as `facequeue up` prints it
    code = issue_login_code(raw, settings, Role.ADMIN)
    stored = keys.login_code_key(hashlib.sha256(code.encode()).hexdigest())
    assert 0 < raw.ttl(stored) <= settings.login_code_ttl_s
    # When the page posts it, Then an admin session opens
    response = await api.post("/api/v1/session/code", json={"code": code})
    assert response.status == 200 and (await response.json())["role"] == "admin"
    cookie = session_cookie(response)
    assert await _with_cookie(api, "GET", "/api/v1/stats", cookie) == 200
    # And the code is used up, and unknown codes open nothing
    for replay in (code, "not-a-code"):
        again = await api.post("/api/v1/session/code", json={"code": replay})
        assert again.status == 401 and "Set-Cookie" not in again.headers
    bad = await api.post("/api/v1/session/code", json={"code": ""})
    assert bad.status == 422


async def test_a_login_code_dies_with_the_token_it_was_issued_for(
    aiohttp_client: Callable[..., Any], raw: redis.Redis, settings: Settings
) -> None:
    code = issue_login_code(raw, settings, Role.ADMIN)
    rotated = dataclasses.replace(settings, admin_token="a-brand-new-admin-token-after-rotation")
    api: TestClient[Any, Any] = await aiohttp_client(build_app(rotated))
    assert (await api.post("/api/v1/session/code", json={"code": code})).status == 401


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
