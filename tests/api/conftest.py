"""The API app over real loopback HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from services.api.main import build_app
from shared.config import Settings

ADMIN = {"Authorization": "Bearer test-admin-token-with-thirty-two-chars"}
VIEWER = {"Authorization": "Bearer test-viewer-token-with-thirty-two-chars"}


@pytest.fixture
async def api(aiohttp_client: Callable[..., Any], settings: Settings) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = await aiohttp_client(build_app(settings))
    return client
