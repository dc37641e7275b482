"""Face workers follow gallery changes on their own channel, not on every job event."""

from __future__ import annotations

from typing import Any, cast

import redis

from services.worker.face.engine import FaceEngine
from services.worker.face.index import GalleryIndexes
from services.worker.face.runtime import FaceRuntime
from shared import galleries, keys
from shared.galleries import EMBEDDING_BYTES, Identity
from shared.registry import Registry
from shared.submit import submit
from tests.processes import wait_for


class RecordingIndexes:
    def __init__(self) -> None:
        self.notified: list[str] = []

    def notify(self, gallery: str) -> None:
        self.notified.append(gallery)


def test_every_gallery_change_reaches_a_running_face_worker_and_job_events_do_not(
    registry: Registry, redis_url: str
) -> None:
    # Given a face worker's runtime following gallery changes
    indexes = RecordingIndexes()
    # (a runtime without an engine, whose indexes only record: this test runs no search)
    engine, recording = cast(FaceEngine, None), cast(GalleryIndexes, indexes)
    runtime: Any = FaceRuntime(registry.settings, engine, redis.Redis.from_url(redis_url), recording)
    runtime.listen()
    try:
        wait_for(lambda: registry.client.pubsub_numsub(keys.GALLERY_CHANGED_CHANNEL)[0][1] == 1)
        # When jobs come and go, then a gallery is enrolled into, forgotten from and dropped
        for _ in range(3):
            submit(registry, "noop")
        embedding = b"\0" * EMBEDDING_BYTES
        registry.run(galleries.enroll("g", Identity("p1", "Person"), embedding))
        registry.run(galleries.enroll("g", Identity("p2", "Other"), embedding))
        registry.run(galleries.forget("g", "p1", who="test"))
        registry.run(galleries.drop("g", who="test"))
        # Then the runtime heard of each gallery change, and of nothing else
        wait_for(lambda: len(indexes.notified) == 4, what="four gallery notices")
        assert indexes.notified == ["g"] * 4
    finally:
        runtime.close()
