"""What each worker thread is running now, shared by the broker, the middleware and actors.

Dramatiq runs one message per worker thread, so the current run is thread-local;
the heartbeat thread reads the set of all runs to report the worker's current jobs.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Run:
    """One started attempt of a job on this worker."""

    job_id: str
    queue: str
    actor: str
    gen: int
    started: float = field(default_factory=time.monotonic)
    result: Any = None
    exception: BaseException | None = None
    #: Set when Dramatiq's Retries re-enqueued the job (it is already delayed).
    retried: bool = False


class Runs:
    """The runs of this process's threads, plus its processed/failed tallies."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._active: dict[int, Run] = {}
        self.processed = 0
        self.failed = 0

    def begin(self, run: Run) -> None:
        self._local.run = run
        with self._lock:
            self._active[threading.get_ident()] = run

    def current(self) -> Run | None:
        """The run of the calling thread, if it is running a job."""
        run: Run | None = getattr(self._local, "run", None)
        return run

    def end(self, *, failed: bool) -> Run | None:
        run = self.current()
        self._local.run = None
        with self._lock:
            self._active.pop(threading.get_ident(), None)
            if run is not None:
                self.processed += 1
                self.failed += int(failed)
        return run

    def job_ids(self) -> list[str]:
        with self._lock:
            return [run.job_id for run in self._active.values()]
