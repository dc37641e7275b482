"""The first frame of every connection: the whole state, as of one event sequence number."""

from __future__ import annotations

from typing import Any

from services.stream.frames import Frame, gateway_frame
from shared import catalog, reads
from shared.events import GatewayType
from shared.jobs import Job
from shared.registry import AsyncRegistry
from shared.states import JobState
from shared.workers import read_workers

#: Job fields left out of snapshots: long, and one API call away (GET /api/v1/jobs/{id}).
DETAIL_FIELDS = ("timeline", "traceback", "args", "result")


def summary(job: Job) -> dict[str, Any]:
    """A job as a dashboard row needs it."""
    data = job.to_dict()
    for name in DETAIL_FIELDS:
        data.pop(name)
    return data


async def queues_of(
    registry: AsyncRegistry, queue_filter: str | None, scope: frozenset[str] | None = None
) -> list[str]:
    """The queues a client sees: its filter, or every queue, within its scope."""
    if queue_filter is not None:
        return [queue_filter] if scope is None or queue_filter in scope else []
    every = sorted(set(await registry.queues()) | set(catalog.queues()))
    return every if scope is None else [queue for queue in every if queue in scope]


async def build_snapshot(
    registry: AsyncRegistry,
    queue_filter: str | None,
    jobs_per_state: int,
    scope: frozenset[str] | None = None,
) -> Frame:
    """Counts and paused queues read atomically with the seq; workers and jobs just after.

    Workers and jobs may be a few events newer than ``seq``; the events that
    follow the snapshot then repeat what they already show, which consumers
    deduplicate (they are idempotent by contract).
    """
    queues = await queues_of(registry, queue_filter, scope)
    base = await registry.run(reads.counts_at(queues))
    # Workers run jobs of every queue: a queue-scoped client is not shown them (issue 22).
    workers = (
        await read_workers(registry.client, await registry.now_ms(), registry.settings)
        if scope is None
        else []
    )
    jobs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for queue in queues:
        jobs[queue] = {}
        for state in JobState:
            page, _ = await registry.run(reads.list_jobs(queue, state, jobs_per_state))
            jobs[queue][state.value] = [summary(job) for job in page]
    data = {
        "counts": base.counts,
        "paused": base.paused,
        "workers": [w.to_dict() for w in workers],
        "jobs": jobs,
    }
    return gateway_frame(GatewayType.SNAPSHOT, data, base.seq, queue_filter)
