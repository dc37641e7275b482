"""Idle SSE clients: the gateway's memory per connection, and how many one machine holds (issue 25).

- ``main``: N idle SSE clients (10,000) on one gateway process, RSS per connection, against
  the bare asyncio server (bench/bare_fanout.py) holding as many in the same run.
- ``group``: N idle clients (50,000: ``make soak``) across the gateway processes of this
  machine (``FQ_STREAM_PROCESSES``): every one past its snapshot and still connected after a
  hold, and the processes' RSS per connection. One process holds at most its open-file
  limit, so there are at least enough processes for that; each load process connects from
  its own loopback address (one address has ~28,000 ephemeral ports towards one port).

Clients are bare asyncio protocols in several processes (bench/stream_load.py).
"""

from __future__ import annotations

import json
import math
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.procs import descendants, raise_nofile, rss_bytes, stop, wait_http
from bench.report import Results, row
from bench.stream_fanout import go, start_clients, start_server
from devstack import localredis
from services.stream.group import available_cores

#: Client processes of the single-process run (connections split evenly).
CLIENT_PROCS = 4
#: Connections per load process in the group run (under one process's open-file limit).
CONNECTIONS_PER_CLIENT_PROC = 10_000
#: Share of a gateway process's open-file limit the group run plans to fill (SO_REUSEPORT
#: spreads connections by hash, not exactly evenly; Redis, logs and the listener need some).
FD_SHARE = 0.7


def tree_rss(pid: int) -> int:
    """RSS of ``pid`` and its live descendants (a group's supervisor and its processes)."""
    total = 0
    for one in (pid, *descendants(pid)):
        try:
            total += rss_bytes(one)
        except OSError:
            continue
    return total


def release(held: list[Any]) -> tuple[int, int]:
    """Let the load processes end; (connections they made, connections still open)."""
    made = still_open = 0
    go(held)
    for proc in held:
        result = json.loads(proc.stdout.readline())
        made += len(result["counts"])
        still_open += result["open"]
    for proc in held:
        proc.stdin.close()
        proc.wait(timeout=60)
        proc.stdout.close()
    return made, still_open


def idle(
    kind: str, url: str, tmp: Path, clients: int, processes: int = 1, hold_s: float = 1.0
) -> dict[str, Any]:
    """``clients`` idle connections on ``kind`` ("sse": facequeue's gateway, "bare")."""
    port = localredis.free_port()
    server = start_server(kind, url, port, tmp / f"idle-{kind}-{processes}.log", processes)
    try:
        time.sleep(0.5 + processes)  # every process of a group up and settled
        before = tree_rss(server.pid)
        t0 = time.perf_counter()
        mode = "snapshot" if kind == "sse" else "-"
        procs = max(CLIENT_PROCS, math.ceil(clients / CONNECTIONS_PER_CLIENT_PROC))
        held = start_clients(port, clients, 0, 0, mode, procs, sources=processes > 1)
        connect_s = time.perf_counter() - t0
        time.sleep(hold_s)
        after = tree_rss(server.pid)
        t0 = time.perf_counter()
        wait_http(f"http://127.0.0.1:{port}/readyz")
        ready_ms = (time.perf_counter() - t0) * 1000
        made, still_open = release(held)
        return {
            "kind": kind,
            "processes": processes,
            "clients": made,
            "open_after_hold": still_open,
            "hold_s": hold_s,
            "connect_s": connect_s,
            "rss_mb": after / 2**20,
            "per_conn_kb": (after - before) / clients / 1024,
            "readyz_ms": ready_ms,
        }
    finally:
        stop(server)


def describe(c: dict[str, Any]) -> str:
    return (
        f"stream idle ({c['kind']}): {c['clients']} clients on {c['processes']} process(es) in "
        f"{c['connect_s']:.1f} s, {c['open_after_hold']} open after {c['hold_s']:.0f} s, "
        f"RSS {c['rss_mb']:.0f} MiB, {c['per_conn_kb']:.1f} KiB per connection, "
        f"/readyz {c['readyz_ms']:.1f} ms while holding them"
    )


def gateway_processes(clients: int) -> int:
    """Enough gateway processes for ``clients`` under each one's open-file limit, at least one per core."""
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return max(available_cores(), math.ceil(clients / (limit * FD_SHARE)))


def group(clients: int = 50_000, hold_s: float = 10.0) -> dict[str, Any]:
    """``clients`` idle SSE clients across the gateway processes of this machine."""
    raise_nofile(2 * CONNECTIONS_PER_CLIENT_PROC + 1024)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        proc, url = localredis.start(tmp / "redis")
        try:
            return idle("sse", url, tmp, clients, gateway_processes(clients), hold_s)
        finally:
            proc.terminate()
            proc.wait()


def main(clients: int = 10_000) -> Results:
    """The issue's point: 10,000 idle clients on one process, against a bare asyncio server."""
    raise_nofile(4 * clients + 1024)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        proc, url = localredis.start(tmp / "redis")
        try:
            runs = {kind: idle(kind, url, tmp, clients) for kind in ("sse", "bare")}
        finally:
            proc.terminate()
            proc.wait()
    for run in runs.values():
        print(describe(run))
    fq, bare = runs["sse"], runs["bare"]
    return {
        "stream_idle_clients": row(
            fq["open_after_hold"],
            "connections",
            bare["open_after_hold"],
            "bare asyncio server",
            target=f">= {clients:,}",
            ok=fq["open_after_hold"] >= clients,
        ),
        "stream_idle_rss_per_conn": row(
            fq["per_conn_kb"],
            "KiB",
            bare["per_conn_kb"],
            "bare asyncio server",
            target="<= 10 KiB",
            ok=fq["per_conn_kb"] <= 10,
        ),
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["group"]:
        print(json.dumps(group(*(int(a) for a in sys.argv[2:3]))))
    else:
        print(json.dumps(main(*(int(a) for a in sys.argv[1:2])), indent=1))
