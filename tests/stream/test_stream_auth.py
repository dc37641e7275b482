"""The gateway checks the API's session records and limits wrong credentials like the API."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from typing import Any

from aiohttp.test_utils import TestClient

from services.api.main import build_app as build_api
from services.stream.main import build_app as build_gateway
from shared.config import Settings
from shared.sessions import SESSION_COOKIE
from tests.helpers import resign, session_cookie

ADMIN_TOKEN = "test-admin-token-with-thirty-two-chars"
VIEWER_TOKEN = "test-viewer-token-with-thirty-two-chars"


async def _status(gateway: TestClient[Any, Any], headers: dict[str, str]) -> int:
    gateway.session.cookie_jar.clear()
    response = await gateway.get("/stream", headers=headers)
    status = response.status
    response.close()
    return status


def _cookie(value: str) -> dict[str, str]:
    return {"Cookie": f"{SESSION_COOKIE}={value}"}


async def test_the_gateway_honours_exactly_the_sessions_the_api_keeps(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> None:
    api: TestClient[Any, Any] = await aiohttp_client(build_api(settings))
    gateway: TestClient[Any, Any] = await aiohttp_client(build_gateway(settings))
    # Given a viewer session opened on the API, Then the gateway streams for it
    viewer = session_cookie(await api.post("/api/v1/session", json={"token": VIEWER_TOKEN}))
    assert await _status(gateway, _cookie(viewer)) == 200
    # A tampered cookie is refused (and cleared)
    gateway.session.cookie_jar.clear()
    tampered = await gateway.get("/stream", headers=_cookie(viewer[:-1] + "x"))
    assert tampered.status == 401 and f'{SESSION_COOKIE}=""' in tampered.headers["Set-Cookie"]
    # When the viewer logs out on the API, Then the gateway refuses the cookie too
    api.session.cookie_jar.clear()
    await api.delete("/api/v1/session", headers=_cookie(viewer))
    assert await _status(gateway, _cookie(viewer)) == 401
    # And when an admin ends every session, an admin's own session is over on the gateway
    admin = session_cookie(await api.post("/api/v1/session", json={"token": ADMIN_TOKEN}))
    assert await _status(gateway, _cookie(admin)) == 200
    api.session.cookie_jar.clear()
    ended = await api.delete("/api/v1/sessions", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert ended.status == 200 and (await ended.json())["ended"] == 1
    assert await _status(gateway, _cookie(admin)) == 401


async def test_a_gateway_with_a_rotated_token_refuses_its_old_sessions(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> None:
    api: TestClient[Any, Any] = await aiohttp_client(build_api(settings))
    viewer = session_cookie(await api.post("/api/v1/session", json={"token": VIEWER_TOKEN}))
    rotated = dataclasses.replace(settings, viewer_token="a-new-viewer-token-after-the-rotation")
    gateway: TestClient[Any, Any] = await aiohttp_client(build_gateway(rotated))
    assert await _status(gateway, _cookie(viewer)) == 401
    assert await _status(gateway, {"Authorization": "Bearer a-new-viewer-token-after-the-rotation"}) == 200


async def test_the_gateway_is_no_token_oracle_and_never_refuses_a_right_token(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> None:
    gateway: TestClient[Any, Any] = await aiohttp_client(
        build_gateway(dataclasses.replace(settings, login_max_failures=4, trusted_proxies=("127.0.0.1/32",)))
    )

    def guess(address: str, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", "X-Forwarded-For": address}

    # Given a guesser behind the proxy, Then wrong tokens are limited per address
    statuses = [await _status(gateway, guess("203.0.113.50", f"guess-{i}")) for i in range(6)]
    assert statuses == [401] * 4 + [429] * 2
    gateway.session.cookie_jar.clear()
    limited = await gateway.get("/stream", headers=guess("203.0.113.50", "guess-x"))
    assert limited.status == 429 and int(limited.headers["Retry-After"]) >= 1
    assert (await limited.json())["error"]["code"] == "too_many_attempts"
    # And the right token streams, from that address and any other
    assert await _status(gateway, guess("203.0.113.50", VIEWER_TOKEN)) == 200
    assert await _status(gateway, guess("198.51.100.3", "typo")) == 401
    # The gateway and the API share the counters: a guesser cannot split tries between them
    api: TestClient[Any, Any] = await aiohttp_client(
        build_api(dataclasses.replace(settings, login_max_failures=4, trusted_proxies=("127.0.0.1/32",)))
    )
    assert (await api.get("/api/v1/stats", headers=guess("203.0.113.50", "guess-y"))).status == 429


async def test_the_gateway_sends_hsts_when_a_trusted_proxy_says_tls(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> None:
    gateway: TestClient[Any, Any] = await aiohttp_client(
        build_gateway(dataclasses.replace(settings, trusted_proxies=("127.0.0.1/32",)))
    )
    auth = {"Authorization": f"Bearer {VIEWER_TOKEN}"}
    response = await gateway.get("/stream", headers={**auth, "X-Forwarded-Proto": "https"})
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    response.close()
    plain = await gateway.get("/stream", headers=auth)
    assert "Strict-Transport-Security" not in plain.headers
    plain.close()


async def test_ending_a_session_closes_the_streams_it_already_holds(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> None:
    fast = dataclasses.replace(settings, stream_session_check_s=0.1)
    api: TestClient[Any, Any] = await aiohttp_client(build_api(fast))
    gateway: TestClient[Any, Any] = await aiohttp_client(build_gateway(fast))
    viewer = session_cookie(await api.post("/api/v1/session", json={"token": VIEWER_TOKEN}))
    bearer = await gateway.get("/stream", headers={"Authorization": f"Bearer {VIEWER_TOKEN}"})
    # Given an open stream on the viewer's session, past its snapshot
    gateway.session.cookie_jar.clear()
    stream = await gateway.get("/stream", headers=_cookie(viewer))
    assert stream.status == 200
    async with asyncio.timeout(5):
        while b"event: snapshot" not in await stream.content.readline():
            pass
    # When the viewer logs out elsewhere
    api.session.cookie_jar.clear()
    await api.delete("/api/v1/session", headers=_cookie(viewer))
    # Then the gateway ends the stream within a check interval (the body reaches its end)
    async with asyncio.timeout(5):
        while await stream.content.readany():
            pass
    assert stream.content.at_eof()
    metrics = await (await gateway.get("/metrics")).text()
    assert 'reason="session"' in metrics
    # while a bearer-token stream, which no session backs, stays open
    assert not bearer.content.at_eof()
    bearer.close()


async def test_without_redis_credentials_get_503_not_500(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> None:
    from devstack.localredis import free_port

    # No retries: the point is the answer while Redis is gone, not riding out an outage.
    gone = dataclasses.replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_retries=0)
    api: TestClient[Any, Any] = await aiohttp_client(build_api(gone))
    gateway: TestClient[Any, Any] = await aiohttp_client(build_gateway(gone))
    forged = _cookie("some-session.1700000000.0000")  # refused before any lookup
    signed = _cookie(resign(settings.secret, "some-session", int(time.time())))  # needs its record
    for client, method, path, headers, status in [
        (api, "GET", "/api/v1/stats", {"Authorization": "Bearer wrong"}, 503),
        (api, "GET", "/api/v1/session", forged, 503),  # the failure cannot be counted
        (api, "GET", "/api/v1/stats", signed, 503),
        (api, "POST", "/api/v1/session/code", {}, 503),
        (api, "DELETE", "/api/v1/sessions", {"Authorization": f"Bearer {ADMIN_TOKEN}"}, 503),
        (gateway, "GET", "/stream", signed, 503),
        (gateway, "GET", "/stream", forged, 401),  # uncounted, still refused
    ]:
        body = {"code": "abc"} if path.endswith("/code") else None
        response = await client.request(method, path, headers=headers, json=body)
        assert response.status == status, (path, headers, await response.text())
        code = (await response.json())["error"]["code"]
        assert code == ("redis_unavailable" if status == 503 else "unauthorized")
