"""``POST /api/v1/jobs/bulk`` and ``POST /api/v1/queues/{queue}/clean``: many jobs, in batches.

Each Redis call handles at most ``BULK_BATCH`` jobs (``CLEAN_BATCH`` for clean; one
script call: atomic per batch, never blocking Redis for long) and emits an ``admin``
progress event.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from aiohttp import web

from services.api import validation
from services.api.auth import acting
from services.api.models import BulkAction, BulkByFilter, BulkByIds, BulkResult, CleanQueue, CleanResult
from services.api.openapi import Route
from services.api.queues import known_queue, require_known
from services.api.state import REGISTRY, record
from shared import actions, keys
from shared.actions import BULK_BATCH, CLEAN_BATCH
from shared.registry import AsyncRegistry
from shared.states import JobState

#: The state a filtered bulk action must name.
_SOURCE = {actions.BulkVerb.RETRY: JobState.FAILED, actions.BulkVerb.PROMOTE: JobState.DELAYED}


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for at in range(0, len(items), size):
        yield list(items[at : at + size])


async def bulk_action(request: web.Request) -> web.Response:
    """Exactly one of ids and filter; jobs the action does not apply to are counted as skipped."""
    spec = (await validation.body(request, BulkAction)).root
    registry, who = request.app[REGISTRY], acting(request)
    if isinstance(spec, BulkByIds):
        result = await _by_ids(registry, spec, who)
    else:
        await require_known(registry, spec.filter.queue)
        required = _SOURCE.get(spec.action)
        wrong_state = required is not None and spec.filter.state is not required
        if wrong_state or (spec.filter.state is JobState.ACTIVE and not spec.force):
            # Nothing in that set can take the action: report it, touch nothing.
            count = await registry.client.zcard(keys.state_key(spec.filter.queue, spec.filter.state.value))
            result = BulkResult(matched=count, done=0, skipped=count)
        else:
            result = await _by_filter(registry, spec, who)
    record(request, f"bulk_{spec.action}", result.done)
    return web.json_response(result.model_dump())


async def _by_ids(registry: AsyncRegistry, spec: BulkByIds, who: str) -> BulkResult:
    ids = list(dict.fromkeys(spec.ids))
    queues: dict[str, list[str]] = {}
    missing = 0
    for chunk in _chunks(ids, BULK_BATCH):
        async with registry.client.pipeline(transaction=False) as pipe:
            for job_id in chunk:
                pipe.hget(keys.job_key(job_id), "queue")
            found = await pipe.execute()
        for job_id, queue in zip(chunk, found, strict=True):
            if queue is None:
                missing += 1
            else:
                queues.setdefault(queue, []).append(job_id)
    done = skipped = 0
    for queue, members in queues.items():
        for chunk in _chunks(members, BULK_BATCH):
            outcome = await registry.run(
                actions.bulk(spec.action, queue, ids=list(chunk), who=who, force=spec.force)
            )
            done, skipped = done + outcome.done, skipped + outcome.skipped
    return BulkResult(matched=len(ids), done=done, skipped=skipped + missing)


async def _by_filter(registry: AsyncRegistry, spec: BulkByFilter, who: str) -> BulkResult:
    done = skipped = 0
    while True:
        outcome = await registry.run(
            actions.bulk(spec.action, spec.filter.queue, source=spec.filter.state, who=who, force=spec.force)
        )
        done, skipped = done + outcome.done, skipped + outcome.skipped
        if outcome.done == 0:  # the set is empty (or holds nothing the action applies to)
            break
    return BulkResult(matched=done + skipped, done=done, skipped=skipped)


async def clean_queue(request: web.Request) -> web.Response:
    """Remove finished jobs older than ``older_than_s``, in batches, up to ``limit``."""
    queue = await known_queue(request)
    spec = await validation.body(request, CleanQueue)
    registry, who = request.app[REGISTRY], acting(request)
    cutoff_ms = await registry.now_ms() - spec.older_than_s * 1000
    removed: dict[str, int] = {}
    budget = spec.limit
    for state in dict.fromkeys(spec.states):
        removed[state] = 0
        while budget > 0:
            batch = min(budget, CLEAN_BATCH)
            n = await registry.run(actions.clean(queue, JobState(state), cutoff_ms, limit=batch, who=who))
            removed[state] += n
            budget -= n
            if n < batch:
                break
    record(request, "clean", sum(removed.values()))
    return web.json_response(CleanResult(queue=queue, removed=removed).model_dump())


ROUTES = [
    Route(
        "POST",
        "/api/v1/jobs/bulk",
        bulk_action,
        "Retry, delete or promote many jobs",
        body=BulkAction,
        response=BulkResult,
        errors=(400, 403, 404, 413, 415, 422),
    ),
    Route(
        "POST",
        "/api/v1/queues/{queue}/clean",
        clean_queue,
        "Remove old finished jobs",
        body=CleanQueue,
        response=CleanResult,
        errors=(400, 403, 404, 415, 422),
    ),
]
