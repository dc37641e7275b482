"""``FQ_STREAM_PROCESSES``: the gateway on every core, as one group of processes on one port.

One gateway process is one event loop on one core; a machine with more cores runs several,
each a whole gateway (its own Redis subscription, fan-out and clients) listening on the
same port with SO_REUSEPORT, so the kernel spreads new connections between them (issue 25).
A client's connection lives in one process; a reconnect may land in another and resumes by
``Last-Event-ID`` from ``fq:events`` as it would on another pod.

The parent only supervises: it starts the processes, restarts one that dies, and on SIGTERM
or SIGINT passes SIGTERM on, so each drains its clients as a single gateway does
(readiness 503 first). Metrics are the group's: every process writes Prometheus' multiprocess
files, and whichever process a scrape reaches reads them all (connected clients add up).
"""

from __future__ import annotations

import math
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import tempfile
import time
from collections.abc import AsyncIterator
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType

from aiohttp import web

from shared.config import Settings
from shared.logging import configure_logging, get_logger

log = get_logger(__name__)

#: Seconds between two samples of a process's CPU, memory and FDs into the group's files.
RUNTIME_SAMPLE_S = 5.0
#: Seconds before a process that died is started again (a crash loop must not spin).
RESTART_DELAY_S = 1.0
#: Environment variable prometheus_client reads at import to share values between processes.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def available_cores() -> int:
    """Cores this process may use: its CPU affinity, capped by a cgroup v2 quota (a container's
    CPU limit, which the affinity does not show)."""
    cores = len(os.sched_getaffinity(0))
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return cores
    if quota == "max":
        return cores
    return max(1, min(cores, math.ceil(int(quota) / int(period))))


def process_count(settings: Settings) -> int:
    return settings.stream_processes or available_cores()


def metrics_dir(settings: Settings) -> Path:
    """Where the group's processes share Prometheus values (one per port)."""
    return Path(tempfile.gettempdir()) / f"facequeue-stream-metrics-{settings.stream_port}"


def _child(settings: Settings, index: int) -> None:
    """One gateway process of the group (in a spawned interpreter: prometheus_client imports
    with the multiprocess directory already in the environment)."""
    from prometheus_client import CollectorRegistry, multiprocess

    from services.stream.main import build_app, serve_gateway
    from shared.http import EXPOSITION
    from shared.metrics import GroupRuntimeMetrics

    configure_logging(settings, "stream")
    app = build_app(settings)
    exposition = CollectorRegistry()
    multiprocess.MultiProcessCollector(exposition)  # type: ignore[no-untyped-call]
    app[EXPOSITION] = exposition
    runtime = GroupRuntimeMetrics(CollectorRegistry(), group="stream")

    async def sampling(app: web.Application) -> AsyncIterator[None]:
        import asyncio

        async def sample() -> None:
            while True:
                runtime.sample()
                await asyncio.sleep(RUNTIME_SAMPLE_S)

        task = asyncio.create_task(sample(), name="runtime-metrics")
        yield
        task.cancel()

    app.cleanup_ctx.append(sampling)
    log.info("gateway process starting", index=index, pid=os.getpid())
    serve_gateway(app, settings, reuse_port=True)


class Group:
    """The supervisor: ``processes`` gateway processes, kept running until told to stop."""

    def __init__(self, settings: Settings, processes: int) -> None:
        self.settings = settings
        self.count = processes
        self.context = multiprocessing.get_context("spawn")
        self.children: dict[int, BaseProcess] = {}
        self.stopping = False

    def start(self, index: int) -> None:
        child = self.context.Process(target=_child, args=(self.settings, index), name=f"stream-{index}")
        child.start()
        self.children[index] = child

    def stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True
        for child in self.children.values():
            if child.pid is not None and child.is_alive():
                os.kill(child.pid, signal.SIGTERM)

    def run(self) -> int:
        from prometheus_client import multiprocess

        directory = metrics_dir(self.settings)
        for index in range(self.count):
            self.start(index)
        log.info("gateway group started", processes=self.count, port=self.settings.stream_port)
        while not self.stopping:
            sentinels = {child.sentinel: index for index, child in self.children.items()}
            for ready in multiprocessing.connection.wait(list(sentinels), timeout=1.0):
                index = sentinels[ready]  # type: ignore[index]
                dead = self.children[index]
                dead.join()
                if self.stopping:
                    break
                log.error("gateway process died; starting another", index=index, exitcode=dead.exitcode)
                if dead.pid is not None:
                    multiprocess.mark_process_dead(dead.pid, str(directory))  # type: ignore[no-untyped-call]
                time.sleep(RESTART_DELAY_S)
                self.start(index)
        deadline = time.monotonic() + self.settings.stream_drain_s + 10
        for child in self.children.values():
            child.join(max(0.0, deadline - time.monotonic()))
            if child.is_alive():
                child.kill()
                child.join()
        return 0


def run_group(settings: Settings, processes: int) -> int:
    """Run ``processes`` gateway processes on the stream port until SIGTERM/SIGINT."""
    directory = metrics_dir(settings)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(directory)  # inherited by the spawned processes
    group = Group(settings, processes)
    signal.signal(signal.SIGTERM, group.stop)
    signal.signal(signal.SIGINT, group.stop)
    return group.run()
