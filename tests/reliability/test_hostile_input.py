"""Hostile input and access: every refusal is a clear 4xx and changes nothing."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
import redis
from aiohttp.test_utils import TestClient

from services.api.main import build_app
from services.api.openapi import ROUTES
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.config import Settings
from shared.registry import Registry
from shared.sessions import SESSION_COOKIE
from shared.submit import submit
from tests.helpers import resign, session_cookie, snapshot

ADMIN = {"Authorization": "Bearer test-admin-token-with-thirty-two-chars"}
VIEWER = {"Authorization": "Bearer test-viewer-token-with-thirty-two-chars"}


@pytest.fixture
async def api(aiohttp_client: Callable[..., Any], settings: Settings) -> TestClient[Any, Any]:
    # The matrix below presents many wrong credentials: lift the rate limit it would trip.
    client: TestClient[Any, Any] = await aiohttp_client(
        build_app(dataclasses.replace(settings, login_max_failures=1_000_000))
    )
    return client


def mutating_routes(app: Any) -> list[tuple[str, str]]:
    routes = [
        (r.method, re.sub(r"{\w+}", "x", r.path)) for r in app[ROUTES] if r.method not in ("GET", "HEAD")
    ]
    # Logging in and out is open to anyone (and checks its own body): tested in tests/api/test_auth.py.
    return [(m, p) for m, p in routes if not p.startswith("/api/v1/session/") and p != "/api/v1/session"]


async def test_every_mutating_endpoint_refuses_missing_wrong_and_weak_credentials(
    api: TestClient[Any, Any], settings: Settings, registry: Registry, raw: redis.Redis
) -> None:
    submit(registry, "noop")
    token = ADMIN["Authorization"].split()[1]
    admin_cookie = session_cookie(await api.post("/api/v1/session", json={"token": token}))
    expired = resign(settings.secret, admin_cookie, int(time.time()) - settings.session_ttl_s - 60)
    forged = resign("not-the-secret-but-just-as-long-as-it", admin_cookie, int(time.time()))
    before = snapshot(raw)
    routes = mutating_routes(api.app)
    assert len(routes) >= 12
    cases: list[tuple[dict[str, str], dict[str, str], int, str]] = [
        ({}, {}, 401, "unauthorized"),
        (VIEWER, {}, 403, "forbidden"),
        ({"Authorization": "Bearer wrong"}, {}, 401, "unauthorized"),
        ({}, {SESSION_COOKIE: admin_cookie}, 403, "csrf"),  # a cookie without the CSRF header
        ({"X-Facequeue-CSRF": "1"}, {SESSION_COOKIE: expired}, 401, "unauthorized"),
        ({"X-Facequeue-CSRF": "1"}, {SESSION_COOKIE: forged}, 401, "unauthorized"),
    ]
    for method, path in routes:
        for headers, cookies, status, code in cases:
            api.session.cookie_jar.clear()
            if cookies:
                api.session.cookie_jar.update_cookies(cookies)
            response = await api.request(method, path, headers=headers, json={})
            body = await response.json()
            assert (response.status, body["error"]["code"]) == (status, code), (
                method,
                path,
                headers,
                cookies,
            )
    api.session.cookie_jar.clear()
    counters = ("fq:login-failures:", "fq:token-failures:")
    after = {k: v for k, v in snapshot(raw).items() if not k.startswith(counters)}
    assert after == before  # (only the failed-credentials counters moved)


async def test_the_stream_refuses_unauthenticated_clients(start_service: Callable[..., Any]) -> None:
    gateway = start_service("stream")
    base = f"http://127.0.0.1:{gateway.settings.stream_port}"
    for path in ("/stream", "/ws"):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Cookie": f"{SESSION_COOKIE}=forged.value"}):
            request = urllib.request.Request(base + path, headers=headers)
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=5)
            refused.value.close()
            assert refused.value.code == 401


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/api/v1/jobs?limit=1000000", None, 400),
        ("GET", "/api/v1/jobs?limit=-1", None, 400),
        ("GET", "/api/v1/jobs?cursor=%00%01", None, 400),
        ("GET", "/api/v1/jobs?q=%27%3B%20DROP%20TABLE", None, 400),
        ("GET", "/api/v1/audit?limit=99999999999999999999", None, 400),
        ("GET", "/api/v1/jobs/%00abc", None, 404),
        ("GET", "/api/v1/jobs/%E2%80%AE%F0%9F%98%80", None, 404),
        ("DELETE", "/api/v1/jobs/..%2F..%2Fetc%2Fpasswd", None, 404),
        ("POST", "/api/v1/jobs/%0d%0aSet-Cookie:x/retry", None, 404),
        ("POST", "/api/v1/queues/..%2F..%2Fx/pause", None, 400),
        ("POST", "/api/v1/queues/%00/resume", None, 400),
        ("POST", "/api/v1/galleries/..%2Fx/identities", {"name": "a", "image": "aGk="}, 404),
        ("DELETE", "/api/v1/galleries/%2e%2e", None, 404),
        ("DELETE", "/api/v1/galleries/demo/identities/..%2F..", None, 404),
        ("DELETE", "/api/v1/workers/%00%FF", None, 404),
        ("POST", "/api/v1/jobs", {"actor": "noop", "priority": -1}, 422),
        ("POST", "/api/v1/jobs", {"actor": "noop", "priority": 10**30}, 422),
        ("POST", "/api/v1/jobs", {"actor": "noop", "delay_ms": -5}, 422),
        ("POST", "/api/v1/jobs", {"actor": "sleep", "args": [1e308]}, 422),
        ("POST", "/api/v1/jobs", {"actor": "\u0000noop"}, 422),
        ("POST", "/api/v1/jobs", {"actor": "noop", "queue": "../../x"}, 422),
        ("POST", "/api/v1/jobs", {"actor": "noop", "unknown": True}, 422),
        ("POST", "/api/v1/jobs", [1, 2, 3], 422),
        ("POST", "/api/v1/jobs/bulk", {"action": "delete", "ids": ["a"] * 100_001}, 422),
        ("POST", "/api/v1/jobs/bulk", {"action": "explode", "ids": ["a"]}, 422),
        ("PUT", "/api/v1/jobs/x/priority", {"priority": "high"}, 404),
        ("POST", "/api/v1/queues/diagnostics/clean", {"states": ["completed"], "limit": 0}, 422),
        ("POST", "/api/v1/queues/diagnostics/clean", {"states": ["active"]}, 422),
    ],
)
async def test_hostile_requests_get_a_clear_4xx_and_change_nothing(
    api: TestClient[Any, Any],
    registry: Registry,
    raw: redis.Redis,
    method: str,
    path: str,
    body: Any,
    status: int,
) -> None:
    submit(registry, "noop")
    before = snapshot(raw)
    kwargs: dict[str, Any] = {}
    if body is not None:
        kwargs = {
            "data": io.BytesIO(json.dumps(body).encode()),
            "headers": {**ADMIN, "Content-Type": "application/json"},
        }
    response = await api.request(method, path, **({"headers": ADMIN} | kwargs))
    assert response.status == status, await response.text()
    error = (await response.json())["error"]
    assert error["code"] and error["message"]
    assert snapshot(raw) == before


async def test_oversized_malformed_and_mistyped_bodies(api: TestClient[Any, Any], raw: redis.Redis) -> None:
    before = snapshot(raw)
    huge = io.BytesIO(b'{"actor": "noop", "args": ["' + b"x" * (12 << 20) + b'"]}')
    cases = [
        (huge, "application/json", 413),
        (io.BytesIO(b'{"actor": "noop"'), "application/json", 400),
        (io.BytesIO(b"\xff\xfe\x00garbage"), "application/json", 400),
        (io.BytesIO(b"actor=noop"), "application/x-www-form-urlencoded", 415),
        (io.BytesIO(b"--x\r\nbroken"), "multipart/form-data; boundary=x", 400),
    ]
    for data, content_type, status in cases:
        response = await api.post("/api/v1/jobs", data=data, headers={**ADMIN, "Content-Type": content_type})
        assert response.status == status, (content_type, await response.text())
        assert (await response.json())["error"]["code"]
    assert snapshot(raw) == before


async def test_failed_logins_are_rate_limited_per_address_but_never_a_right_token(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> None:
    api: TestClient[Any, Any] = await aiohttp_client(build_app(settings))
    for i in range(settings.login_max_failures):
        wrong = await api.post("/api/v1/session", json={"token": f"guess-{i}"})
        assert wrong.status == 401
    # Past the limit, wrong tokens get 429, by login and by bearer alike
    blocked = await api.post("/api/v1/session", json={"token": "guess"})
    assert blocked.status == 429 and (await blocked.json())["error"]["code"] == "too_many_attempts"
    assert 1 <= int(blocked.headers["Retry-After"]) <= settings.login_window_s
    assert (await api.get("/api/v1/stats", headers={"Authorization": "Bearer guess"})).status == 429
    # while a credential that verifies is never refused (issue 16: no lock-out through a shared address)
    right = await api.post("/api/v1/session", json={"token": "test-admin-token-with-thirty-two-chars"})
    assert right.status == 200
    assert (await api.get("/api/v1/stats", headers=ADMIN)).status == 200
    # and tokens in URLs log nobody in
    assert (await api.get("/login?token=test-admin-token-with-thirty-two-chars")).status == 410


async def test_tokens_and_cookies_never_reach_the_logs(
    start_service: Callable[..., Any], settings: Settings
) -> None:
    api = start_service("api", log_level="debug")
    gateway = start_service("stream", log_level="debug")
    base = f"http://127.0.0.1:{api.settings.api_port}"
    login = urllib.request.Request(
        f"{base}/api/v1/session",
        data=b'{"token": "test-admin-token-with-thirty-two-chars"}',
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(login, timeout=5) as response:
        cookie = response.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    secrets_sent = [
        "test-admin-token-with-thirty-two-chars",
        "test-viewer-token-with-thirty-two-chars",
        "wrong-token-xyz",
        cookie,
    ]
    requests = [
        urllib.request.Request(f"{base}/api/v1/stats", headers=ADMIN),
        urllib.request.Request(f"{base}/api/v1/stats", headers={"Authorization": "Bearer wrong-token-xyz"}),
        urllib.request.Request(f"{base}/login?token=test-admin-token-with-thirty-two-chars"),
        urllib.request.Request(f"{base}/login?token=wrong-token-xyz"),
        urllib.request.Request(
            f"{base}/api/v1/session",
            data=b'{"token": "test-viewer-token-with-thirty-two-chars"}',
            headers={"Content-Type": "application/json"},
        ),
        urllib.request.Request(f"{base}/api/v1/jobs/nope", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"}),
        urllib.request.Request(
            f"http://127.0.0.1:{gateway.settings.stream_port}/stream",
            headers={"Authorization": "Bearer wrong-token-xyz"},
        ),
    ]
    for request in requests:
        try:
            urllib.request.urlopen(request, timeout=5).close()
        except urllib.error.HTTPError as refused:
            refused.close()
    api.stop()
    gateway.stop()
    for service in (api, gateway):
        log = service.log()
        assert log.strip(), "the service logged nothing at all: the check would prove nothing"
        for secret in secrets_sent:
            assert secret not in log


HOSTILE_HEADERS: list[dict[str, str]] = [
    {"Cookie": f"{SESSION_COOKIE}=" + "a." * 2000},
    {"Cookie": f"{SESSION_COOKIE}=x.99999999999999999999999.y"},
    {"Cookie": f"{SESSION_COOKIE}=x.-1.y"},
    {"Cookie": f"{SESSION_COOKIE}=x.\uff11\uff12\uff13.y"},  # full-width digits
    {"Cookie": f"{SESSION_COOKIE}=%C3%A9t%C3%A9.1.2"},
    {"Authorization": "Bearer " + "é" * 300},
    {"Authorization": "Bearer"},
    {"Authorization": "Basic Zm9vOmJhcg=="},
    {"X-Forwarded-For": "1.2.3.4, [::1, 999.1.1.1, , unknown, 1.2.3.4:99999"},
    {"X-Forwarded-For": ",".join(["10.0.0.1"] * 500)},
    {"Forwarded": 'for="[2001:db8::1;proto=https, for=;by=, ;;;, for="_hidden"'},
    {"X-Forwarded-Proto": "https, javascript"},
]


@pytest.mark.parametrize("headers", HOSTILE_HEADERS)
async def test_hostile_credentials_and_forwarding_headers_are_clean_refusals(
    aiohttp_client: Callable[..., Any], settings: Settings, raw: redis.Redis, headers: dict[str, str]
) -> None:
    from services.stream.main import build_app as build_gateway

    lenient = dataclasses.replace(settings, login_max_failures=1_000_000)
    behind = dataclasses.replace(lenient, trusted_proxies=("127.0.0.1/32",), proxy_header="forwarded")
    for proxied in (lenient, behind, dataclasses.replace(behind, proxy_header="x-forwarded-for")):
        api: TestClient[Any, Any] = await aiohttp_client(build_app(proxied))
        gateway: TestClient[Any, Any] = await aiohttp_client(build_gateway(proxied))
        before = {k: v for k, v in snapshot(raw).items() if "failures" not in k}
        for client, method, path, body in [
            (api, "GET", "/api/v1/session", None),
            (api, "GET", "/api/v1/stats", None),
            (api, "POST", f"/api/v1/queues/{Q}/pause", None),
            (api, "DELETE", "/api/v1/session", None),
            (api, "DELETE", "/api/v1/sessions", None),
            (api, "POST", "/api/v1/session/code", {"code": headers.get("Cookie", "é" * 50)}),
            (gateway, "GET", "/stream", None),
        ]:
            response = await client.request(method, path, headers=headers, json=body)
            assert response.status in (200, 400, 401, 403, 422), (method, path, response.status)
            if response.status != 200:
                assert (await response.json())["error"]["code"]
            response.close()
        assert {k: v for k, v in snapshot(raw).items() if "failures" not in k} == before
