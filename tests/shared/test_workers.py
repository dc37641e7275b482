"""A worker's status from its heartbeat's age (pure: no Redis)."""

from __future__ import annotations

import dataclasses

import pytest

from shared.config import Settings
from shared.workers import Worker, WorkerStatus, classify, count_by_status

NOW_MS = 1_000_000_000


def _settings() -> Settings:
    return dataclasses.replace(Settings(), heartbeat_interval_s=5.0, worker_dead_s=15.0)


@pytest.mark.parametrize(
    ("beat_age_ms", "marked", "status"),
    [
        (0, None, WorkerStatus.ALIVE),
        (10_000, None, WorkerStatus.ALIVE),  # two beats missed is still on time
        (10_001, None, WorkerStatus.STALE),
        (14_999, None, WorkerStatus.STALE),
        (15_000, None, WorkerStatus.DEAD),
        (0, "dead", WorkerStatus.DEAD),  # reaped: dead whatever its last beat
    ],
)
def test_status_follows_the_heartbeat_age(beat_age_ms: int, marked: str | None, status: WorkerStatus) -> None:
    fields = {"id": "w1", "last_beat_ms": str(NOW_MS - beat_age_ms), "queues": "a,b", "threads": "4"}
    if marked:
        fields["status"] = marked
    worker = classify(fields, NOW_MS, _settings())
    assert (worker.status, worker.queues, worker.threads) == (status, ["a", "b"], 4)


def test_counts_name_every_status_and_the_beat_free_record_ignores_beats() -> None:
    # Given one alive and one dead worker
    alive = classify({"id": "a", "last_beat_ms": str(NOW_MS)}, NOW_MS, _settings())
    dead = classify({"id": "d", "status": "dead"}, NOW_MS, _settings())
    # Then every status is counted, stale included
    assert count_by_status([alive, dead]) == {
        WorkerStatus.ALIVE: 1,
        WorkerStatus.STALE: 0,
        WorkerStatus.DEAD: 1,
    }
    # and a later beat alone does not change what the monitor announces
    later = dataclasses.replace(alive, last_beat_ms=NOW_MS + 5000, beat_age_s=0.0, uptime_s=9.0)
    assert later.without_beat() == alive.without_beat() and later.to_dict() != alive.to_dict()
    assert set(Worker.BEAT_FIELDS) <= set(alive.to_dict())
