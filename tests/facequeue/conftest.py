"""The drop-in app (tests/facequeue/app.py) on both sides: imported here as its producers
would, and run by the plain ``dramatiq`` CLI in a subprocess as its workers would."""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import redis

from shared.config import Settings
from tests.processes import python_module, running, stop, wait_for


@pytest.fixture
def app(dropin_module: ModuleType, redis_url: str) -> ModuleType:
    """The app with a flushed Redis."""
    return dropin_module


@pytest.fixture
def start_app_worker(
    settings: Settings, tmp_path: Path, raw: redis.Redis
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """``python -m dramatiq tests.facequeue.app``: one process, four threads; waits until it registered
    (``wait=False``: a worker that may die before it registers, as one taking a poison job)."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*, wait: bool = True, **overrides: Any) -> subprocess.Popen[bytes]:
        own = dataclasses.replace(settings, **overrides)
        log_path = tmp_path / f"app-worker-{len(started)}.log"
        before = set(raw.zrange("fq:workers", 0, -1))
        args = ("tests.facequeue.app", "--processes", "1", "--threads", "4")
        proc = python_module("dramatiq", own, log_path, *args)
        started.append(proc)

        def registered() -> bool:
            running(proc, log_path, "worker")
            return bool(set(raw.zrange("fq:workers", 0, -1)) - before)

        if wait:
            wait_for(registered, timeout=30, what="app worker registration")
        return proc

    yield start
    for proc in started:
        stop(proc)
