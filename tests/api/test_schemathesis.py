"""Property-based requests from the OpenAPI document: no input may produce a server error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from shared.submit import submit
from tests.conftest import free_port, launch

ST = str(Path(sys.executable).parent / "st")


def test_no_generated_request_causes_a_server_error(settings: Any, registry: Any, tmp_path: Path) -> None:
    import dataclasses

    # Given a real API process over a registry with jobs in it
    for _ in range(5):
        submit(registry, "noop")
    api_settings = dataclasses.replace(settings, api_port=free_port())
    log_path = tmp_path / "api.log"
    service = launch("api", api_settings, api_settings.api_port, log_path)
    base = f"http://127.0.0.1:{api_settings.api_port}"
    try:
        # When schemathesis sends generated requests (valid and invalid) to every operation, as admin
        result = subprocess.run(
            [
                ST,
                "run",
                f"{base}/api/v1/openapi.json",
                "--checks",
                "not_a_server_error",
                "-H",
                "Authorization: Bearer test-admin-token",
                "--max-examples",
                "30",
                "--seed",
                "1",
                "--request-timeout",
                "20",
                "--continue-on-failure",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
        )
        # Then none of them got a 5xx
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
        assert "internal error" not in log_path.read_text()
    finally:
        service.stop()
