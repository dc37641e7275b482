"""Secure cookies and HSTS exactly when the browser's connection used TLS (or a setting says so)."""

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


async def _login(api: TestClient[Any, Any], headers: dict[str, str]) -> tuple[str, str | None]:
    response = await api.post("/api/v1/session", json={"token": ADMIN_TOKEN}, headers=headers)
    assert response.status == 200
    return response.headers["Set-Cookie"], response.headers.get("Strict-Transport-Security")


@pytest.mark.parametrize(
    ("changes", "headers", "tls"),
    [
        # Plain HTTP, nothing trusted: no Secure (the browser would drop it), no HSTS.
        ({}, {}, False),
        # A client claiming TLS without a trusted proxy is not believed.
        ({}, {"X-Forwarded-Proto": "https"}, False),
        # A trusted proxy that terminated TLS.
        ({"trusted_proxies": ("127.0.0.1",)}, {"X-Forwarded-Proto": "https"}, True),
        ({"trusted_proxies": ("127.0.0.1",)}, {"X-Forwarded-Proto": "http"}, False),
        (
            {"trusted_proxies": ("127.0.0.1",), "proxy_header": "forwarded"},
            {"Forwarded": "for=203.0.113.4;proto=https"},
            True,
        ),
        # Forced: a TLS terminator that says nothing.
        ({"force_tls": True}, {}, True),
    ],
)
async def test_secure_cookie_and_hsts_follow_the_client_connection(
    aiohttp_client: Callable[..., Any],
    settings: Settings,
    changes: dict[str, Any],
    headers: dict[str, str],
    tls: bool,
) -> None:
    api: TestClient[Any, Any] = await aiohttp_client(build_app(dataclasses.replace(settings, **changes)))
    cookie, hsts = await _login(api, headers)
    assert ("; Secure" in cookie) is tls
    assert hsts == (f"max-age={settings.hsts_max_age_s}; includeSubDomains" if tls else None)
    page = await api.get("/", headers=headers)
    assert ("Strict-Transport-Security" in page.headers) is tls
