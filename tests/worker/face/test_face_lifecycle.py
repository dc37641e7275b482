"""The face runtime is started only by workers that consume the face queue."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from services.worker.middleware.face import FaceLifecycle
from shared.catalog import DIAGNOSTICS_QUEUE
from shared.face_jobs import FACE_QUEUE


class FakeRuntime:
    def __init__(self) -> None:
        self.warmed = 0
        self.listening = False
        self.engine = SimpleNamespace(warm_up=self.warm_up)

    def warm_up(self) -> None:
        self.warmed += 1

    def listen(self) -> None:
        self.listening = True


def boot(whitelist: set[str] | None, declared: set[str]) -> FakeRuntime:
    runtime = FakeRuntime()
    lifecycle = FaceLifecycle(runtime)  # type: ignore[arg-type]
    broker: Any = SimpleNamespace(get_declared_queues=lambda: declared)
    worker: Any = SimpleNamespace(consumer_whitelist=whitelist)
    lifecycle.before_worker_boot(broker, worker)
    for _ in range(2):
        lifecycle.after_worker_thread_boot(broker, object())
    lifecycle.after_worker_boot(broker, worker)
    return runtime


@pytest.mark.parametrize(
    ("whitelist", "declared", "warmed"),
    [
        (None, {DIAGNOSTICS_QUEUE, FACE_QUEUE}, 2),  # every declared queue, the face queue among them
        ({FACE_QUEUE}, {DIAGNOSTICS_QUEUE, FACE_QUEUE}, 2),
        ({DIAGNOSTICS_QUEUE}, {DIAGNOSTICS_QUEUE, FACE_QUEUE}, 0),  # --queues diagnostics
        (None, {DIAGNOSTICS_QUEUE}, 0),  # no face actor declared
    ],
)
def test_face_models_are_warmed_only_by_workers_that_consume_the_face_queue(
    whitelist: set[str] | None, declared: set[str], warmed: int
) -> None:
    # Given a worker's queues, When it boots two threads
    runtime = boot(whitelist, declared)
    # Then each thread warms the models up, and the gallery listener runs, only for a face worker
    assert runtime.warmed == warmed
    assert runtime.listening is bool(warmed)
