"""Model files are verified before a worker runs: missing or altered files stop it."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from services.worker.face.weights import (
    CHECKSUMS,
    DETECTOR_FILE,
    RECOGNIZER_FILE,
    ModelFilesError,
    default_dir,
    locate,
)
from shared.config import Settings
from tests.processes import ROOT, WorkerGroup


def test_the_wheels_files_verify() -> None:
    files = locate()
    assert files.detector.name == DETECTOR_FILE and files.recognizer.name == RECOGNIZER_FILE


def test_an_explicit_copy_verifies(tmp_path: Path) -> None:
    for name in CHECKSUMS:
        shutil.copy(default_dir() / name, tmp_path / name)
    assert locate(str(tmp_path)).recognizer == tmp_path / RECOGNIZER_FILE


def test_an_altered_file_is_refused(tmp_path: Path) -> None:
    for name in CHECKSUMS:
        shutil.copy(default_dir() / name, tmp_path / name)
    with (tmp_path / RECOGNIZER_FILE).open("r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02")
    with pytest.raises(ModelFilesError, match="SHA-256"):
        locate(str(tmp_path))


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    shutil.copy(default_dir() / DETECTOR_FILE, tmp_path / DETECTOR_FILE)
    with pytest.raises(ModelFilesError, match="missing"):
        locate(str(tmp_path))


def test_a_worker_with_altered_weights_refuses_to_start(tmp_path: Path, settings: Settings) -> None:
    for name in CHECKSUMS:
        shutil.copy(default_dir() / name, tmp_path / name)
    (tmp_path / DETECTOR_FILE).write_bytes(b"not the model")
    faces = dataclasses.replace(settings, worker_queues=("face_search",), face_model_dir=str(tmp_path))
    # (not tests.processes: this one's stderr is read whole, and its group killed, not stopped)
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.worker"],
        cwd=ROOT,
        env={**os.environ, **faces.to_env()},
        stderr=subprocess.PIPE,
        start_new_session=True,  # should it start after all, its whole group is killed below
    )
    try:
        _, stderr = proc.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0
    assert b"refusing to run with altered weights" in stderr


def test_a_worker_not_consuming_the_face_queue_needs_no_models(
    tmp_path: Path, start_worker: Callable[..., WorkerGroup]
) -> None:
    group = start_worker(worker_queues=("diagnostics",), face_model_dir=str(tmp_path))  # an empty folder
    assert group.process.poll() is None
