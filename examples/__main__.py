"""``make example``: run examples/orders.py's worker, send its work, show what facequeue recorded.

The worker is the plain ``dramatiq`` CLI on the example's module, as the app's
own deployment would run it; it stops once every job of the example has settled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from examples import orders
from shared import reads
from shared.jobs import Job
from shared.registry import Registry


def main() -> None:
    worker = subprocess.Popen(
        [sys.executable, "-m", "dramatiq", "examples.orders", "--processes", "1", "--threads", "4"],
        env=os.environ.copy(),
    )
    try:
        orders.main()
        orders.broker.join(orders.QUEUE, timeout=60_000)
        registry = orders.broker.ctx.registry
        print(f"\nfacequeue's registry (Redis {orders.REDIS_URL}), queue {orders.QUEUE!r}:")
        for job in _jobs(registry):
            outcome = job.error or job.result
            print(f"  {job.id}  {job.actor:8} {job.state.value:9} attempts={job.attempts}  {outcome}")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)


def _jobs(registry: Registry) -> list[Job]:
    found, _ = registry.run(reads.search_jobs(limit=50, queue=orders.QUEUE))
    return sorted(found, key=lambda job: job.created_ms)


if __name__ == "__main__":
    main()
