"""A real OpenID Connect provider for the sign-on tests: ``oidc-provider-mock`` (PyPI) as a
subprocess on a free loopback port, behind a PKCE check (tests/oidc_pkce.py: the mock alone ignores
``code_verifier``). People are set through its ``PUT /users/<sub>`` (claims: email, groups); its
authorization page is a form where a browser types the subject."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack.localredis import free_port
from tests.processes import http_ready, running, spawn, stop, wait_for

#: Client id facequeue uses at the provider (the mock accepts any unregistered client).
CLIENT_ID = "facequeue-tests"


@dataclass
class Provider:
    url: str
    process: subprocess.Popen[bytes]

    def set_person(self, sub: str, **claims: object) -> None:
        """Define (or redefine) the claims a subject signs in with."""
        request = urllib.request.Request(
            f"{self.url}/users/{sub}",
            data=json.dumps(claims).encode(),
            method="PUT",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 204

    def pkce_refusals(self) -> int:
        """Token requests the provider refused for a missing or wrong PKCE code_verifier."""
        with urllib.request.urlopen(f"{self.url}/pkce/refusals", timeout=5) as response:
            return int(json.load(response)["refusals"])


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    port = free_port()
    log: Path = tmp_path_factory.mktemp("oidc") / "provider.log"
    # The mock behind a PKCE check (tests/oidc_pkce.py): the mock alone ignores code_verifier.
    process = spawn([sys.executable, "-m", "tests.oidc_pkce", "--port", str(port)], log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: (
                running(process, log, "the OIDC provider")
                and http_ready(port, "/.well-known/openid-configuration")
            ),
            timeout=30,
            what="the OIDC provider",
        )
        yield Provider(url, process)
    finally:
        stop(process)
