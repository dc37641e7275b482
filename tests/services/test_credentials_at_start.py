"""api and stream refuse to start with credentials someone could forge or guess (issue 16)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devstack.localredis import free_port
from shared.config import Settings
from tests.processes import ROOT, launch

UNSAFE = [
    ({"secret": ""}, "FQ_SECRET: required"),
    ({"secret": "dev-insecure-secret"}, "FQ_SECRET: a published example value"),
    ({"secret": "too-short-a-secret"}, "FQ_SECRET: must be at least 32 bytes"),
    ({"admin_token": "short-admin-token"}, "FQ_ADMIN_TOKEN: must be at least 32 characters"),
]


@pytest.mark.parametrize("service", ["api", "stream"])
@pytest.mark.parametrize(("changes", "message"), UNSAFE)
def test_unsafe_credentials_stop_the_process_before_it_listens(
    settings: Settings, service: str, changes: dict[str, Any], message: str
) -> None:
    port = free_port()
    own = dataclasses.replace(settings, api_port=port, stream_port=port, **changes)
    done = subprocess.run(
        [sys.executable, "-m", f"services.{service}"],
        cwd=ROOT,
        env={**os.environ, **own.to_env()},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert f"{service}: refusing to start: {message}" in done.stderr
    assert "Traceback" not in done.stderr


def test_safe_credentials_start(settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    started = launch("api", dataclasses.replace(settings, api_port=port), port, tmp_path / "api.log")
    started.stop()
    assert started.process.returncode == 0
