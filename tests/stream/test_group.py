"""FQ_STREAM_PROCESSES: several gateway processes on one port (SO_REUSEPORT), as one gateway."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import aiohttp

from services.stream.group import available_cores
from shared.registry import Registry
from shared.submit import submit
from tests.conftest import ServiceProcess, wait_for
from tests.processes import metric_sum
from tests.stream.conftest import Stream, open_stream, url_of

CLIENTS = 24


def _children(parent: int) -> list[int]:
    """The gateway processes of the group (the supervisor's spawned children, not its
    multiprocessing resource tracker)."""
    found = []
    for task in Path(f"/proc/{parent}/task").iterdir():
        for pid in (task / "children").read_text().split():
            try:
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(int(pid))
            except OSError:
                continue  # it just exited
    return found


def _sockets(pid: int) -> int:
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(fd).startswith("socket:")
        except OSError:
            continue
    return count


async def test_processes_share_the_port_the_events_and_the_metrics(
    start_gateway: Callable[..., ServiceProcess], registry: Registry
) -> None:
    # Given a gateway of two processes on one port
    gateway = start_gateway(stream_processes=2)
    wait_for(lambda: len(_children(gateway.process.pid)) == 2, what="two gateway processes")
    wait_for(lambda: gateway.log().count('"event": "listening"') == 2, what="both processes listening")
    children = _children(gateway.process.pid)
    before = {pid: _sockets(pid) for pid in children}
    # When many dashboards connect
    async with aiohttp.ClientSession() as session:
        streams: list[Stream] = []
        for _ in range(CLIENTS):
            streams.append(await open_stream(url_of(gateway), session, topics="jobs"))
            assert (await streams[-1].next()).event == "snapshot"
        # Then the kernel spread them over both processes
        grown = {pid: _sockets(pid) - before[pid] for pid in children}
        assert all(n > 0 for n in grown.values()), grown
        # and every client gets every event, whichever process holds it
        job_id = submit(registry, "noop")
        for stream in streams:
            event = await stream.until(lambda e: e.event == "job")
            assert event.json["data"]["job"] == job_id
        # and a scrape of either process counts the whole group's clients
        port = gateway.settings.stream_port
        sse_clients = 'facequeue_stream_clients_connected{transport="sse"}'
        wait_for(lambda: metric_sum(port, sse_clients) == CLIENTS, what="the group's client count")
        assert metric_sum(port, "facequeue_stream_processes") == 2
        # When one process dies, the supervisor starts another; the survivors' clients stay live
        os.kill(children[0], signal.SIGKILL)
        wait_for(
            lambda: len(set(_children(gateway.process.pid)) - {children[0]}) == 2,
            what="a replacement gateway process",
        )
        second = submit(registry, "noop")
        delivered, cut = 0, 0
        for stream in streams:
            try:
                event = await stream.until(lambda e: e.event == "job")
            except (StopAsyncIteration, aiohttp.ClientError):
                cut += 1  # held by the killed process: it resumes by Last-Event-ID elsewhere
                continue
            assert event.json["data"]["job"] == second
            delivered += 1
        assert delivered > 0 and cut > 0 and delivered + cut == CLIENTS
        for stream in streams:
            stream.close()
    # When the group is told to stop, every process drains and the supervisor exits cleanly
    gateway.process.send_signal(signal.SIGTERM)
    assert gateway.process.wait(timeout=30) == 0


def test_the_default_is_one_process_per_available_core() -> None:
    assert 1 <= available_cores() <= len(os.sched_getaffinity(0))
