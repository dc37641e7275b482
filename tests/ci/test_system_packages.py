""".ci/system-packages (what ``make test``, ``make run`` and .ci/run call first): as a user who
cannot install, with something missing, it stops at once and prints the exact command to run."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import ROOT

SCRIPT = ROOT / ".ci" / "system-packages"


@pytest.fixture
def bin_without_redis() -> Iterator[Path]:
    """A PATH folder (readable by nobody) with what ``--run-only`` looks for but redis-server:
    make and python3 as stubs that succeed (python3 answers the venv check), and id."""
    folder = Path(tempfile.mkdtemp(prefix="fq-path-"))
    try:
        for name in ("make", "python3"):
            (folder / name).write_text("#!/bin/sh\nexit 0\n")
            (folder / name).chmod(0o755)
        id_tool = shutil.which("id")
        assert id_tool is not None
        (folder / "id").symlink_to(id_tool)
        folder.chmod(0o755)
        yield folder
    finally:
        shutil.rmtree(folder)


def test_a_user_who_cannot_install_gets_the_exact_command_and_exit_1(bin_without_redis: Path) -> None:
    # Given a user who is not root (the suite may run as root: drop to nobody) and no redis-server
    as_user: list[str] = []
    if os.getuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and setpriv (util-linux) is not installed")
        as_user = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    # When the script runs (read on stdin: nobody may not be able to open the checkout)
    result = subprocess.run(
        [*as_user, "/bin/bash", "-s", "--", "--run-only"],
        input=SCRIPT.read_text(),
        env={"PATH": str(bin_without_redis), "LC_ALL": "C"},
        capture_output=True,
        text=True,
        timeout=3,
    )
    # Then it fails at once, installing nothing, with the exact apt-get line to run as root
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "facequeue needs system packages: redis-server ",
        "install them as root:",
        "  apt-get update && apt-get install -y redis-server",
    ]
