"""A real OpenID Connect provider for the sign-on tests: ``oidc-provider-mock`` (PyPI) as a
subprocess on a free loopback port. People are set through its ``PUT /users/<sub>`` (claims:
email, groups); its authorization page is a form where a browser types the subject."""

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
from tests.conftest import wait_for

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


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    port = free_port()
    log: Path = tmp_path_factory.mktemp("oidc") / "provider.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "oidc_provider_mock", "--port", str(port), "--require-nonce", "true"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the OIDC provider exited:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"{url}/.well-known/openid-configuration", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    try:
        wait_for(ready, timeout=30, what="the OIDC provider")
        yield Provider(url, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
