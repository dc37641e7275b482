"""What each worker thread is running now, shared by the broker, the middleware and actors.

Dramatiq runs one message per worker thread, so the current run is thread-local;
the heartbeat thread reads the set of all runs to report the worker's current jobs.
"""

from __future__ import annotations

import enum
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from shared.messages import JOB_OPTION


class Outcome(enum.Enum):
    """What has been recorded for a run so far (services/worker/outcomes.py records it)."""

    #: Back to ``delayed`` for another attempt (Dramatiq's Retries).
    RETRIED = enum.auto()
    #: ``completed`` recorded with the ack.
    COMPLETED = enum.auto()
    #: The ack's script found the run superseded (deleted, recovered): nothing to record.
    SUPERSEDED = enum.auto()


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
    #: What services/worker/outcomes.py recorded so far (None: nothing yet).
    outcome: Outcome | None = None

    def succeeded(self, message: Any) -> bool:
        """Whether ``message`` is this run's copy and the run ended in success (not failed, not retried)."""
        return (
            message.options.get(JOB_OPTION) == self.job_id
            and not message.failed
            and self.exception is None
            and self.outcome is not Outcome.RETRIED
        )

    def result_json(self) -> str:
        """The actor's return value as stored on the job (its repr when it is not JSON)."""
        try:
            return json.dumps(self.result)
        except (TypeError, ValueError):
            return json.dumps(repr(self.result))


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


def error_line(exc: BaseException | None) -> str:
    """An error as a job's record shows it: ``Type: message``, first line, at most 1,000 characters."""
    if exc is None:
        return ""
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {text.splitlines()[0]}"[:1000] if text else name
