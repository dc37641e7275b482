"""What the API serves the dashboard: the page, its modules, where the gateway is, and who is asking."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import redis
from aiohttp.test_utils import TestClient

from services.api.dashboard import STATIC_DIR
from services.api.main import build_app
from shared import keys
from shared.catalog import CATALOG
from shared.config import Settings
from shared.events import EventType, GatewayType, Topic, frame_types
from shared.history import Sample
from shared.http import SETTINGS
from tests.api.conftest import ADMIN, VIEWER


async def test_the_page_is_served_with_a_policy_naming_the_gateway(api: TestClient[Any, Any]) -> None:
    page = await api.get("/")
    assert page.status == 200 and page.content_type == "text/html"
    assert '<script type="module" src="/static/js/main.js">' in await page.text()
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "object-src 'none'" in policy
    stream_port = api.app[SETTINGS].stream_port
    assert f"connect-src 'self' http://{api.server.host}:{stream_port};" in policy, policy


async def test_every_module_the_page_loads_is_served_as_javascript(api: TestClient[Any, Any]) -> None:
    modules = sorted(p.name for p in (STATIC_DIR / "js").glob("*.js"))
    assert "main.js" in modules and "face.js" in modules
    for name in modules:
        response = await api.get(f"/static/js/{name}")
        assert response.status == 200, name
        assert response.content_type in ("application/javascript", "text/javascript"), name
        assert response.headers["Cache-Control"] == "no-cache"
    assert (await api.get("/static/app.css")).content_type == "text/css"
    assert (await api.get("/static/../auth.py")).status == 404  # nothing outside the folder


async def test_config_gives_the_gateway_on_this_host_or_the_public_url(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> None:
    own = dataclasses.replace(settings, dashboard_origin="http://dash.example:8080")
    client: TestClient[Any, Any] = await aiohttp_client(build_app(own))
    body = await (await client.get("/config.json", headers={"Host": "queue.example:8080"})).json()
    assert (body["stream_url"], body["dashboard_origin"]) == (
        f"http://queue.example:{own.stream_port}",
        "http://dash.example:8080",
    )
    assert body["sso"] is False
    public = dataclasses.replace(own, stream_public_url="https://live.example/events/")
    client = await aiohttp_client(build_app(public))
    body = await (await client.get("/config.json")).json()
    assert body["stream_url"] == "https://live.example/events"
    page = await client.get("/")
    assert "connect-src 'self' https://live.example;" in page.headers["Content-Security-Policy"]
    # Behind the deploy/ proxy, /stream is on the page's own origin
    proxied = dataclasses.replace(own, stream_public_url="/")
    client = await aiohttp_client(build_app(proxied))
    assert (await (await client.get("/config.json")).json())["stream_url"] == "/"
    assert "connect-src 'self';" in (await client.get("/")).headers["Content-Security-Policy"]


async def _role(api: TestClient[Any, Any], **kw: Any) -> str | None:
    body = await (await api.get("/api/v1/session", **kw)).json()
    role: str | None = body["role"]
    return role


async def test_session_says_which_role_the_caller_has(api: TestClient[Any, Any]) -> None:
    assert await _role(api) is None
    assert await _role(api, headers=VIEWER) == "viewer"
    await api.post("/api/v1/session", json={"token": "test-admin-token-with-thirty-two-chars"})
    assert await _role(api) == "admin"
    await api.delete("/api/v1/session")
    api.session.cookie_jar.clear()
    assert await _role(api) is None


async def test_session_role_is_no_way_around_the_login_rate_limit(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> None:
    client: TestClient[Any, Any] = await aiohttp_client(
        build_app(dataclasses.replace(settings, login_max_failures=3))
    )
    # A dead session cookie reads as no role, and is cleared
    stale = await client.get("/api/v1/session", cookies={"fq_session": "forged.value"})
    assert (await stale.json())["role"] is None
    assert 'fq_session=""' in stale.headers["Set-Cookie"]
    client.session.cookie_jar.clear()
    # Wrong tokens count as failed logins: past the limit wrong ones get 429, right ones never do
    for _ in range(2):
        wrong = await client.get("/api/v1/session", headers={"Authorization": "Bearer guess"})
        assert (await wrong.json())["role"] is None
    refused = await client.get("/api/v1/session", headers={"Authorization": "Bearer guess"})
    assert refused.status == 429 and refused.headers["Retry-After"]
    assert await _role(client, headers=ADMIN) == "admin"
    assert (await client.get("/api/v1/session")).status == 200  # nothing presented, nothing guessed


async def test_actors_lists_the_catalog_with_argument_schemas(api: TestClient[Any, Any]) -> None:
    assert (await api.get("/api/v1/actors")).status == 401
    body = await (await api.get("/api/v1/actors", headers=VIEWER)).json()
    by_queue = sorted(CATALOG.values(), key=lambda spec: (spec.queue, spec.name))
    assert [(a["queue"], a["name"]) for a in body["actors"]] == [(s.queue, s.name) for s in by_queue]
    sleep = next(a for a in body["actors"] if a["name"] == "sleep")
    assert sleep["queue"] == "diagnostics" and sleep["args"]["required"] == ["seconds"]


async def test_history_returns_the_newest_minutes_oldest_first(
    api: TestClient[Any, Any], raw: redis.Redis
) -> None:
    for minute in range(1, 6):
        sample = Sample(minute * 60_000, {}, {"diagnostics": minute}, {"diagnostics": 0})
        raw.xadd(keys.HISTORY_STREAM, sample.fields(), id=f"{minute * 60_000}-0")
    body = await (await api.get("/api/v1/history", params={"minutes": "3"}, headers=ADMIN)).json()
    assert [s["minute_ms"] for s in body["samples"]] == [180_000, 240_000, 300_000]
    assert [s["completed"]["diagnostics"] for s in body["samples"]] == [3, 4, 5]
    assert (await api.get("/api/v1/history", params={"minutes": "0"}, headers=ADMIN)).status == 400


async def test_the_dashboard_learns_frame_types_and_topics_from_the_api(api: TestClient[Any, Any]) -> None:
    # The page copies no event type or topic: /config.json serves shared/events.py's.
    config = await (await api.get("/config.json")).json()
    assert config["events"] == {"types": frame_types(), "topics": [t.value for t in Topic]}
    assert set(config["events"]["types"]) == {*EventType, *GatewayType}
