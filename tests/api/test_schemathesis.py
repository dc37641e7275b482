"""Property-based requests from the OpenAPI document: no server error, no departure from the document.

Every schemathesis check runs but two. ``positive_data_acceptance`` expects every schema-valid
request to succeed, which a schema cannot promise here: base64 that decodes to bytes that are
not an image (415), a cursor handed to the other listing mode (400). ``allow_header_conformance``
trips on ``/api/v1/jobs/bulk`` (POST) sharing its path shape with ``/api/v1/jobs/{job_id}``
(GET, DELETE), so a 405 there lists all three methods.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from devstack.localredis import free_port
from shared.submit import submit
from tests.processes import launch

ST = str(Path(sys.executable).parent / "st")


def test_no_generated_request_causes_a_server_error(settings: Any, registry: Any, tmp_path: Path) -> None:
    import dataclasses

    # Given a real API process over a registry with jobs in it
    for _ in range(5):
        submit(registry, "noop")
    # (generated wrong credentials must not trip the login rate limit mid-run)
    api_settings = dataclasses.replace(settings, api_port=free_port(), login_max_failures=1_000_000)
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
                "all",
                "--exclude-checks",
                "positive_data_acceptance,allow_header_conformance",
                "-H",
                "Authorization: Bearer test-admin-token-with-thirty-two-chars",
                "--max-examples",
                "12",  # 63 operations: ~1,500 requests, the suite's longest test (make test: under 6 min)
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
