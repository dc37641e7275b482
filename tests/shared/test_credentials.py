"""Credentials that could be forged or guessed are refused before a process starts."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from shared.auth import check_credentials
from shared.config import Settings, SettingsError

TOKEN = "t" * 32
GOOD = Settings(admin_token=TOKEN, secret="s" * 32)


@pytest.mark.parametrize(
    ("changes", "variable"),
    [
        ({"secret": ""}, "FQ_SECRET"),
        ({"secret": "dev-insecure-secret"}, "FQ_SECRET"),  # the old default
        ({"secret": "dev-session-secret-not-for-production"}, "FQ_SECRET"),  # the old dev overlay's
        ({"secret": "s" * 31}, "FQ_SECRET"),
        ({"secret": "é" * 15}, "FQ_SECRET"),  # 30 bytes: the minimum is in bytes, not characters
        ({"admin_token": "t" * 31}, "FQ_ADMIN_TOKEN"),
        ({"viewer_token": "v" * 31}, "FQ_VIEWER_TOKEN"),
        ({"viewer_token": TOKEN}, "FQ_VIEWER_TOKEN"),  # the same as the admin token
        ({"admin_token": "", "viewer_token": "v" * 31}, "FQ_VIEWER_TOKEN"),
    ],
)
def test_unsafe_credentials_are_refused_naming_the_variable(changes: dict[str, Any], variable: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        check_credentials(dataclasses.replace(GOOD, **changes))


def test_safe_credentials_and_no_credentials_at_all_pass() -> None:
    check_credentials(GOOD)
    check_credentials(dataclasses.replace(GOOD, viewer_token="v" * 40, secret="é" * 16))
    check_credentials(Settings())  # no token: nothing is served, nothing to forge


def test_trusted_proxies_and_booleans_are_read_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "FQ_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1",
            "FQ_FORCE_TLS": "true",
            "FQ_PROXY_HEADER": "forwarded",
        }
    )
    assert settings.trusted_proxies == ("10.0.0.0/8", "127.0.0.1") and settings.force_tls
    assert Settings.from_env(settings.to_env()) == settings
    with pytest.raises(SettingsError, match="FQ_TRUSTED_PROXIES"):
        Settings.from_env({"FQ_TRUSTED_PROXIES": "10.0.0.0/33"})
    with pytest.raises(SettingsError, match="FQ_FORCE_TLS"):
        Settings.from_env({"FQ_FORCE_TLS": "maybe"})
    with pytest.raises(SettingsError, match="FQ_PROXY_HEADER"):
        Settings.from_env({"FQ_PROXY_HEADER": "x-real-ip"})
