"""``facequeue worker``: run a Dramatiq worker group configured from settings."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from services.worker.face.weights import ModelFilesError, locate
from shared import catalog
from shared.config import Settings
from shared.face_jobs import FACE_QUEUE

#: What the dramatiq CLI imports in each process.
BROKER_PATH = "services.worker.app:broker"


def metrics_dir(settings: Settings) -> Path:
    """Directory where the group's processes share Prometheus values (one per metrics port)."""
    return Path(tempfile.gettempdir()) / f"facequeue-worker-metrics-{settings.worker_metrics_port}"


def queues(settings: Settings) -> tuple[str, ...]:
    return settings.worker_queues or tuple(catalog.queues())


def command(settings: Settings) -> list[str]:
    """The dramatiq command line for these settings."""
    return [
        sys.executable,
        "-m",
        "dramatiq",
        BROKER_PATH,
        "--processes",
        str(settings.worker_processes),
        "--threads",
        str(settings.worker_threads),
        "--queues",
        *queues(settings),
        "--skip-logging",
    ]


def environment(settings: Settings) -> dict[str, str]:
    """Environment for the group: settings, and Prometheus multiprocess mode set before any import."""
    path = metrics_dir(settings)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return {
        **os.environ,
        **settings.to_env(),
        "PROMETHEUS_MULTIPROC_DIR": str(path),
        "dramatiq_prom_db": str(path),
        "dramatiq_prom_port": str(settings.worker_metrics_port),
        "dramatiq_prom_host": settings.bind_host,
    }


def main(settings: Settings | None = None) -> None:
    """Replace this process with the dramatiq CLI, so signals reach it directly."""
    settings = settings or Settings.from_env()
    if FACE_QUEUE in queues(settings):
        try:
            locate(settings.face_model_dir)  # each process checks again; failing here is clearer
        except ModelFilesError as exc:
            sys.exit(f"facequeue worker: {exc}")
    cmd = command(settings)
    os.execve(sys.executable, cmd, environment(settings))
