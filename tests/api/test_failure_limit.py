"""Wrong credentials are limited per client address and token prefix, through trusted proxies
only, and a credential that verifies is never refused (issue 16). Real HTTP, real Redis."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from services.api.main import build_app
from shared.config import Settings
from tests.api.conftest import ADMIN

ADMIN_TOKEN = ADMIN["Authorization"].split()[1]
#: The test client connects from 127.0.0.1: that is "the proxy" when it is trusted.
BEHIND_PROXY = ("127.0.0.1/32",)


def via(address: str, token: str | None = None) -> dict[str, str]:
    headers = {"X-Forwarded-For": address}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


@pytest.fixture
async def proxied(aiohttp_client: Callable[..., Any], settings: Settings) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = await aiohttp_client(
        build_app(dataclasses.replace(settings, trusted_proxies=BEHIND_PROXY, login_max_failures=5))
    )
    return client


async def test_a_flood_of_wrong_tokens_through_the_proxy_never_locks_out_a_correct_one(
    proxied: TestClient[Any, Any],
) -> None:
    # Given an attacker behind the shared proxy who presents wrong tokens past the limit
    statuses = [
        (await proxied.get("/api/v1/stats", headers=via("203.0.113.66", f"guess-{i}"))).status
        for i in range(8)
    ]
    assert statuses == [401] * 5 + [429] * 3
    limited = await proxied.get("/api/v1/stats", headers=via("203.0.113.66", "guess-x"))
    assert limited.status == 429 and 1 <= int(limited.headers["Retry-After"]) <= 60
    assert (await limited.json())["error"]["code"] == "too_many_attempts"
    # Then an admin behind the same proxy is not affected at all
    assert (await proxied.get("/api/v1/stats", headers=via("198.51.100.1", ADMIN_TOKEN))).status == 200
    assert (await proxied.get("/api/v1/stats", headers=via("198.51.100.1", "typo"))).status == 401
    # And even from the attacker's own address a right token passes, by bearer and by login
    assert (await proxied.get("/api/v1/stats", headers=via("203.0.113.66", ADMIN_TOKEN))).status == 200
    login = await proxied.post("/api/v1/session", json={"token": ADMIN_TOKEN}, headers=via("203.0.113.66"))
    assert login.status == 200
    wrong_login = await proxied.post("/api/v1/session", json={"token": "nope"}, headers=via("203.0.113.66"))
    assert wrong_login.status == 429


async def test_without_a_trusted_proxy_forwarded_addresses_are_ignored(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> None:
    # Given no trusted proxy, a guesser rotating X-Forwarded-For is still one address
    api: TestClient[Any, Any] = await aiohttp_client(
        build_app(dataclasses.replace(settings, login_max_failures=3))
    )
    statuses = [
        (await api.get("/api/v1/stats", headers=via(f"192.0.2.{i}", f"guess-{i}"))).status for i in range(5)
    ]
    assert statuses == [401, 401, 401, 429, 429]
    session = await (await api.get("/api/v1/session", headers=via("192.0.2.99"))).json()
    assert session["client_address"] == "127.0.0.1"


async def test_one_token_prefix_is_limited_across_addresses(proxied: TestClient[Any, Any]) -> None:
    # Given guesses sharing a prefix, each from a fresh address
    statuses = [
        (await proxied.get("/api/v1/stats", headers=via(f"192.0.2.{i}", f"samepref-{i}"))).status
        for i in range(7)
    ]
    # Then the prefix runs out of tries while each address made only one
    assert statuses == [401] * 5 + [429] * 2
    assert (await proxied.get("/api/v1/stats", headers=via("192.0.2.200", "otherpre-1"))).status == 401


async def test_cookie_and_session_probes_count_as_failures_too(proxied: TestClient[Any, Any]) -> None:
    forged = {"Cookie": "fq_session=abc.1.def", "X-Forwarded-For": "203.0.113.7"}
    statuses = [(await proxied.get("/api/v1/session", headers=forged)).status for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    fresh = await proxied.get(
        "/api/v1/session", headers={"Cookie": "fq_session=x", "X-Forwarded-For": "192.0.2.1"}
    )
    assert fresh.status == 200 and (await fresh.json())["role"] is None
    assert 'fq_session=""' in fresh.headers["Set-Cookie"]  # a dead cookie is cleared


async def test_the_client_address_is_the_rightmost_untrusted_hop(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> None:
    chain = dataclasses.replace(settings, trusted_proxies=("127.0.0.1/32", "10.0.0.0/8"))
    api: TestClient[Any, Any] = await aiohttp_client(build_app(chain))
    headers = {**ADMIN, "X-Forwarded-For": "6.6.6.6, 203.0.113.9, 10.0.0.5"}
    session = await (await api.get("/api/v1/session", headers=headers)).json()
    assert session == {
        "role": "admin",
        "name": "FQ_ADMIN_TOKEN",
        "queues": None,
        "kind": "token",
        "via": "bearer",
        "created_ms": None,
        "expires_ms": None,
        "client_address": "203.0.113.9",
    }
