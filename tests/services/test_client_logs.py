"""Log lines name the client as the trusted proxy reports it, on the real processes."""

from __future__ import annotations

import dataclasses
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from devstack.localredis import free_port
from shared.config import Settings
from tests.processes import launch, wait_for


@pytest.mark.parametrize("service", ["api", "stream"])
def test_a_refused_credential_is_logged_with_the_forwarded_client_address(
    settings: Settings, tmp_path: Path, service: str
) -> None:
    port = free_port()
    own = dataclasses.replace(
        settings, api_port=port, stream_port=port, trusted_proxies=("127.0.0.1/32",), log_format="json"
    )
    started = launch(service, own, port, tmp_path / f"{service}.log")
    try:
        path = "/api/v1/stats" if service == "api" else "/stream"
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}",
            headers={"Authorization": "Bearer wrong-token-xyz", "X-Forwarded-For": "6.6.6.6, 203.0.113.77"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 401
        refused.value.close()

        def refusal() -> dict[str, str] | None:
            for line in started.log().splitlines():
                if line.startswith("{") and json.loads(line).get("event") == "credential refused":
                    return dict(json.loads(line))
            return None

        line = wait_for(refusal, timeout=10, what="the refusal's log line")
        assert line["client"] == "203.0.113.77"  # the rightmost untrusted hop, not the proxy
        assert "wrong-token-xyz" not in started.log()
    finally:
        started.stop()
