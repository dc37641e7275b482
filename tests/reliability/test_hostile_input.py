"""Hostile input and access: every refusal is a clear 4xx and changes nothing."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import io
import json
import math
import re
import select
import socket
import time
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis
from aiohttp.test_utils import TestClient
from PIL import Image

from services.api.main import build_app
from services.api.openapi import ROUTES
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.config import Settings
from shared.registry import Registry
from shared.sessions import SESSION_COOKIE
from shared.states import JobState
from shared.submit import submit
from tests.helpers import backfill, events, resign, session_cookie, snapshot
from tests.reliability.conftest import eventually, record_figure
from tests.stream_client import read_events

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
        # Names (issue 16): no "." or ":", at most 64 characters; actions only on known queues
        ("POST", "/api/v1/queues/dramatiq:default.msgs/pause", None, 400),
        ("POST", "/api/v1/queues/diagnostics.DQ/pause", None, 400),
        ("POST", "/api/v1/queues/fq:q:x/resume", None, 400),
        ("POST", f"/api/v1/queues/{'q' * 65}/pause", None, 400),
        ("POST", "/api/v1/queues/never_registered/pause", None, 404),
        ("POST", "/api/v1/queues/never_registered/resume", None, 404),
        ("POST", "/api/v1/queues/never_registered/clean", {"states": ["failed"]}, 404),
        ("DELETE", "/api/v1/queues/never_registered/retention", None, 404),
        ("PUT", "/api/v1/queues/a.b/retention", None, 400),
        (
            "POST",
            "/api/v1/jobs/bulk",
            {"action": "retry", "filter": {"queue": "nope", "state": "failed"}},
            404,
        ),
        (
            "POST",
            "/api/v1/jobs/bulk",
            {"action": "retry", "filter": {"queue": "a.b", "state": "failed"}},
            422,
        ),
        ("POST", "/api/v1/galleries/a.b/identities", {"name": "a", "image": "aGk="}, 404),
        ("POST", "/api/v1/galleries/a:b/identities", {"name": "a", "image": "aGk="}, 404),
        ("POST", "/api/v1/jobs", {"image": "aGk=", "gallery": "a.b"}, 422),
        # JSON edges: never a 500, never a NaN past a range check
        ("POST", "/api/v1/jobs", b'{"actor": "sleep", "args": [NaN]}', 400),
        ("POST", "/api/v1/jobs", b'{"actor": "sleep", "args": [Infinity]}', 400),
        ("POST", "/api/v1/jobs", b'{"actor": "sleep", "args": [-Infinity]}', 400),
        ("POST", "/api/v1/jobs", b'{"actor": "sleep", "args": [1e400]}', 400),
        ("POST", "/api/v1/jobs", b'{"actor": "noop", "priority": ' + b"9" * 5000 + b"}", 400),
        ("POST", "/api/v1/jobs", b'{"actor": "noop", "args": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400),
        ("POST", "/api/v1/jobs", b'{"actor": "noop", "args": ' + b"[" * 40 + b"]" * 40 + b"}", 400),
        ("POST", "/api/v1/jobs", b'{"actor": "noop", "args": {"a": ' * 40 + b"1" + b"}" * 80, 400),
        ("PUT", "/api/v1/jobs/x/priority", b'{"priority": NaN}', 404),
        ("POST", "/api/v1/jobs", {"actor": "noop", "priority": "\u0663"}, 422),
        ("POST", "/api/v1/jobs", {"image": "aGk=", "threshold": "NaN"}, 422),
        ("GET", "/api/v1/jobs?limit=%D9%A3", None, 400),
        ("GET", "/api/v1/jobs?limit=%C2%B2", None, 400),
        ("GET", "/api/v1/audit?limit=%EF%BC%91", None, 400),
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
            "data": io.BytesIO(body if isinstance(body, bytes) else json.dumps(body).encode()),
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


def multipart(parts: list[tuple[str, bytes]], boundary: str = "fqb") -> bytes:
    out = b""
    for name, value in parts:
        out += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value
            + b"\r\n"
        )
    return out + f"--{boundary}--\r\n".encode()


async def chunked(data: bytes, piece: int = 4096, pause_s: float = 0.0) -> AsyncIterator[bytes]:
    """The body without a Content-Length (Transfer-Encoding: chunked), optionally slowly."""
    for at in range(0, len(data), piece):
        if pause_s:
            await asyncio.sleep(pause_s)  # a slow client is the input under test
        yield data[at : at + piece]


async def test_multipart_part_count_and_size_are_capped_while_reading_chunked_bodies(
    aiohttp_client: Callable[..., Any], settings: Settings, raw: redis.Redis
) -> None:
    api: TestClient[Any, Any] = await aiohttp_client(
        build_app(dataclasses.replace(settings, max_image_bytes=50_000, max_form_parts=4))
    )
    before = snapshot(raw)
    headers = {**ADMIN, "Content-Type": "multipart/form-data; boundary=fqb"}
    cases = [
        # more parts than allowed, each small: 400 once the fifth starts
        (multipart([(f"f{i}", b"1") for i in range(5000)]), 400, "bad_request"),
        # an image part past the limit, with no Content-Length to refuse it up front
        (multipart([("image", b"\xff" * 2_000_000)]), 413, "payload_too_large"),
        # a field past its limit
        (multipart([("gallery", b"g" * 10_000)]), 422, "validation_error"),
    ]
    for body, status, code in cases:
        response = await api.post("/api/v1/jobs", data=chunked(body), headers=headers)
        assert (response.status, (await response.json())["error"]["code"]) == (status, code)
    assert snapshot(raw) == before


async def test_a_body_that_arrives_too_slowly_is_refused_with_408(
    aiohttp_client: Callable[..., Any], settings: Settings, raw: redis.Redis
) -> None:
    api: TestClient[Any, Any] = await aiohttp_client(
        build_app(dataclasses.replace(settings, http_body_timeout_s=0.5))
    )
    before = snapshot(raw)
    json_body = chunked(b'{"actor": "noop", "args": []}', piece=2, pause_s=0.1)
    form = chunked(multipart([("gallery", b"demo"), ("image", b"\xff" * 1000)]), piece=16, pause_s=0.1)
    for body, content_type in ((json_body, "application/json"), (form, "multipart/form-data; boundary=fqb")):
        response = await api.post("/api/v1/jobs", data=body, headers={**ADMIN, "Content-Type": content_type})
        assert response.status == 408
        assert (await response.json())["error"]["code"] == "request_timeout"
    assert snapshot(raw) == before


def slow_head_survives_s(port: int, deadline_s: float) -> float:
    """Send a request head one byte at a time; seconds until the server hangs up."""
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 1000 + b"\r\n\r\n"
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for byte in head:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                return time.monotonic() - started  # reset by the server
            ready, _, _ = select.select([sock], [], [], 0.2)
            if ready:
                try:
                    closed = sock.recv(1024) == b""
                except OSError:
                    closed = True
                if closed:
                    return time.monotonic() - started
            if time.monotonic() - started > deadline_s:
                break
    return math.inf


def idle_survives_s(port: int, deadline_s: float) -> float:
    """Open a connection and send nothing; seconds until the server hangs up."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=deadline_s) as sock:
        try:
            if sock.recv(1) == b"":
                return time.monotonic() - started
        except TimeoutError:
            return math.inf
        except OSError:
            return time.monotonic() - started
    return math.inf


async def test_slow_and_idle_connections_are_closed_by_every_http_server(
    start_service: Callable[..., Any], start_monitor: Callable[..., Any]
) -> None:
    # Given the api, the gateway and the monitor with a 1 s header/idle deadline
    ports = {
        "api": start_service("api", http_keepalive_s=1.0).settings.api_port,
        "stream": start_service("stream", http_keepalive_s=1.0).settings.stream_port,
        "monitor": start_monitor(http_keepalive_s=1.0).settings.monitor_port,
    }
    for name, port in ports.items():
        # When a client dribbles a request head (slowloris) or opens a connection and says nothing
        slow = await asyncio.to_thread(slow_head_survives_s, port, 10.0)
        idle = await asyncio.to_thread(idle_survives_s, port, 10.0)
        # Then the server hangs up at the deadline, not an hour later (aiohttp's default)
        assert 0.9 <= slow < 3.0, (name, slow)
        assert 0.9 <= idle < 3.0, (name, idle)
        # while a prompt request is still served
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            assert response.status == 200


async def test_one_queue_of_the_wrong_type_never_stops_the_monitor_for_the_others(
    registry: Registry, raw: redis.Redis, start_monitor: Callable[..., Any]
) -> None:
    # Given a registered queue whose waiting set is a string (a key of the wrong type) ...
    raw.sadd("fq:queues", "broken")
    raw.set("fq:q:broken:waiting", "not a sorted set")
    # ... and a delayed job on a healthy queue
    delayed = submit(registry, "noop", delay_ms=100)
    # When the monitor ticks
    monitor = start_monitor()
    # Then the healthy queue's delayed job is released, tick after tick
    await eventually(lambda: registry.get(delayed).state is JobState.WAITING, timeout=15, what="release")
    later = submit(registry, "noop", delay_ms=100)
    await eventually(lambda: registry.get(later).state is JobState.WAITING, timeout=15, what="second release")
    # and the broken queue is reported, not the tick
    log = monitor.log()
    assert "queue skipped this tick" in log and "WRONGTYPE" in log
    assert "monitor tick failed" not in log


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


class Dashboard:
    """An honest dashboard: reads everything, records the seqs of job events."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.seqs: set[int] = set()
        self.snapshot = asyncio.Event()
        self._task = asyncio.create_task(self._read(session, url))

    async def _read(self, session: aiohttp.ClientSession, url: str) -> None:
        async with session.get(url, headers=VIEWER, timeout=aiohttp.ClientTimeout(sock_read=60)) as response:
            assert response.status == 200
            async for event in read_events(response):
                if event.event == "snapshot":
                    self.snapshot.set()
                elif event.event == "job":
                    self.seqs.add(int(event.json["seq"]))

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def hostile_viewer(port: int, last_id: int) -> asyncio.StreamWriter:
    """Resume from ``last_id`` and never read a byte: the replay backs up in the gateway if anywhere."""
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {VIEWER['Authorization']}\r\n"
        f"Last-Event-ID: {last_id}\r\n\r\n".encode()
    )
    await writer.drain()
    return writer


#: Honest dashboards and hostile viewers of the hostile-viewer scenario.
HONEST, HOSTILE = 100, 100
#: Events in fq:events before it starts (a resume from seq 1 used to buffer them all, per viewer).
BACKLOG = 30_000
#: Growth of the gateway's RSS the scenario may cause, in KiB. Measured 12-38 MB (one page per
#: replay in flight); a whole-backlog buffer per viewer was +1.05 GB, past the pod's 1 GiB limit.
HOSTILE_RSS_BOUND_KIB = 96 * 1024


async def test_hostile_viewers_replaying_from_seq_1_keep_the_gateway_bounded_and_dashboards_live(
    raw: redis.Redis, registry: Registry, start_service: Callable[..., Any]
) -> None:
    # Given 30,000 events (~15 MB as Python objects) and a gateway with 100 honest dashboards on it
    newest = backfill(raw, BACKLOG)
    gateway = start_service("stream", stream_max_connections_per_address=HONEST + HOSTILE + 10)
    port, pid = gateway.settings.stream_port, gateway.process.pid
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        honest = [Dashboard(session, f"http://127.0.0.1:{port}/stream?topics=jobs") for _ in range(HONEST)]
        async with asyncio.timeout(60):
            await asyncio.gather(*(d.snapshot.wait() for d in honest))
        baseline = rss_kib(pid)
        peak = baseline
        # When 100 hostile viewers resume and never read: half from seq 1 (beyond the replay
        # bound), half from just within it (a full 10,000-event replay each)
        within = newest - gateway.settings.stream_replay_max_events + 1
        hostile = [await hostile_viewer(port, 1 if i % 2 else within) for i in range(HOSTILE)]
        # while jobs keep flowing
        submitted = []
        started = time.monotonic()
        while time.monotonic() - started < 8:  # long enough for the hostile buffers to fill
            submitted.append(submit(registry, "noop"))
            peak = max(peak, rss_kib(pid))
            await asyncio.sleep(0.05)
        job_seqs = {int(e["seq"]) for e in events(raw) if e["type"] == "job" and int(e["seq"]) > newest}

        # Then every honest dashboard got every job event, live
        def caught_up() -> bool:
            return all(job_seqs <= d.seqs for d in honest)

        await eventually(caught_up, timeout=20, what="honest dashboards live")
        peak = max(peak, rss_kib(pid))
        for writer in hostile:
            writer.close()
        for dashboard in honest:
            await dashboard.close()
    growth = peak - baseline
    print(
        f"\n{HOSTILE} hostile viewers (backlog {BACKLOG} events) + {HONEST} dashboards: gateway RSS "
        f"{baseline} KiB -> peak {peak} KiB (+{growth} KiB); {len(submitted)} jobs delivered live"
    )
    record_figure(
        "hostile_viewers",
        hostile=HOSTILE,
        honest=HONEST,
        backlog_events=BACKLOG,
        rss_baseline_kib=baseline,
        rss_peak_kib=peak,
        rss_growth_kib=growth,
    )
    # and the gateway's memory grew by a bounded amount, whatever the backlog
    assert growth < HOSTILE_RSS_BOUND_KIB, growth


def test_checking_a_36_megapixel_upload_takes_little_memory_in_the_api(
    start_service: Callable[..., Any], raw: redis.Redis
) -> None:
    # Given a 6000x6000 JPEG (36 MP: 108 MB as RGB, three copies in the old check)
    image = Image.linear_gradient("L").resize((6000, 6000)).convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=70)
    api = start_service("api")
    pid, port = api.process.pid, api.settings.api_port
    before = rss_kib(pid, "VmHWM")
    # When it is uploaded
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/jobs",
        data=json.dumps({"image": base64.b64encode(out.getvalue()).decode()}).encode(),
        headers={**ADMIN, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 201
    # Then the API's peak memory grew by far less than one full decode (JPEGs are checked at 1/8)
    growth = rss_kib(pid, "VmHWM") - before
    print(f"\n36 MP JPEG upload ({len(out.getvalue())} bytes): API peak RSS +{growth} KiB")
    record_figure("upload_check_memory", megapixels=36, api_peak_growth_kib=growth)
    assert growth < 60 * 1024, growth
