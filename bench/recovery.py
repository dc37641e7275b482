"""Time from ``kill -9`` of a worker holding a job to that job running again on another worker.

Both workers run before the job is sent (a worker starting takes longer than a short job: the
job would be done before the kill); the job sleeps far longer than the recovery takes.

Default settings (5 s heartbeats, dead after 15 s), real monitor and worker
processes. Dramatiq alone requeues a dead worker's messages only after its 60 s
heartbeat timeout, and then only when a random maintenance pass (1 command in
1000) happens to run: that 60 s is the baseline's lower bound.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.report import Results, row
from devstack import localredis
from shared.config import Settings
from shared.registry import Registry
from shared.states import JobState
from shared.submit import submit

#: Seconds the job sleeps: far beyond the recovery, so it is still running when killed.
JOB_S = 120.0
#: Dramatiq's DEFAULT_HEARTBEAT_TIMEOUT, in seconds: the earliest it could requeue.
DRAMATIQ_REQUEUE_FLOOR_S = 60.0


def _wait(predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.02)


def measure(url: str, tmp: Path) -> float:
    settings = Settings(
        redis_url=url, worker_processes=1, worker_threads=1, monitor_port=localredis.free_port()
    )
    procs: list[subprocess.Popen[bytes]] = []

    def spawn(module: str, port: int) -> None:
        env = {**os.environ, **dataclasses.replace(settings, worker_metrics_port=port).to_env()}
        log = (tmp / f"{module}-{port}.log").open("wb")
        procs.append(subprocess.Popen([sys.executable, "-m", module], env=env, stdout=log, stderr=log))

    registry = Registry(settings)
    try:
        spawn("services.monitor", localredis.free_port())
        spawn("services.worker", localredis.free_port())
        spawn("services.worker", localredis.free_port())
        _wait(lambda: registry.client.zcard("fq:workers") == 2, 60)
        job_id = submit(registry, "sleep", {"seconds": JOB_S})
        _wait(lambda: registry.get(job_id).state is JobState.ACTIVE, 30)
        victim = registry.get(job_id).worker
        os.kill(int(registry.client.hget(f"fq:worker:{victim}", "pid")), signal.SIGKILL)  # type: ignore[arg-type]
        killed = time.monotonic()

        def running_elsewhere() -> bool:
            job = registry.get(job_id)
            return job.state is JobState.ACTIVE and job.worker not in ("", victim)

        _wait(running_elsewhere, 120)
        return time.monotonic() - killed
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        registry.close()


def main() -> Results:
    with tempfile.TemporaryDirectory() as tmp, localredis.running(Path(tmp) / "redis") as url:
        seconds = measure(url, Path(tmp))
    print("recovery after kill -9 (default settings: beat 5 s, dead after 15 s, a long job):")
    print(f"  facequeue  {seconds:6.1f} s from kill to running on the other worker")
    print(f"  dramatiq   >= {DRAMATIQ_REQUEUE_FLOOR_S:.0f} s before it could even requeue")
    print(f"  ratio facequeue/dramatiq-floor: {seconds / DRAMATIQ_REQUEUE_FLOOR_S:.2f}")
    return {
        "recovery_after_kill9": row(
            seconds, "s", DRAMATIQ_REQUEUE_FLOOR_S, "Dramatiq's 60 s heartbeat timeout (a floor, not run)"
        )
    }


if __name__ == "__main__":
    main()
