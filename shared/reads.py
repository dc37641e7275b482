"""Reads of the registry: queue health, job lists and search, counts (a snapshot's base).

Each is one script call, so figures that belong together are read atomically."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shared import keys, search
from shared.jobs import Job
from shared.scripts import Call, Lua
from shared.states import MAX_PRIORITY, JobState


@dataclass(frozen=True, slots=True)
class QueueHealth:
    """One queue's figures, as the monitor exports them."""

    counts: dict[str, int]
    #: Enqueue time (ms) of the oldest waiting job; None when nothing waits.
    oldest_waiting_ms: int | None
    completed_in_window: int
    failed_in_window: int
    #: Length (ms) of the window the outcomes were counted over.
    window_ms: int

    @property
    def completed_per_s(self) -> float:
        return self.completed_in_window / (self.window_ms / 1000)

    @property
    def failed_per_s(self) -> float:
        return self.failed_in_window / (self.window_ms / 1000)

    def oldest_waiting_s(self, now_ms: int) -> float | None:
        """Age of the oldest waiting job at ``now_ms`` (Redis clock); None when nothing waits."""
        return None if self.oldest_waiting_ms is None else max(0, now_ms - self.oldest_waiting_ms) / 1000


#: Window (ms) over which throughput is measured, by the monitor's gauges and the API alike.
THROUGHPUT_WINDOW_MS = 60_000


def queue_health(
    queues: Sequence[str], window_ms: int = THROUGHPUT_WINDOW_MS
) -> Call[dict[str, QueueHealth]]:
    """Counts, oldest waiting job and recent outcomes of each queue."""
    states = list(JobState)

    def parse(raw: Any) -> dict[str, QueueHealth]:
        out = {}
        for queue, row in zip(queues, raw, strict=True):
            counts = {s.value: int(n) for s, n in zip(states, row[:5], strict=True)}
            oldest = int(row[5])
            out[queue] = QueueHealth(
                counts, None if oldest < 0 else oldest, int(row[6]), int(row[7]), window_ms
            )
        return out

    return Call(
        Lua.QUEUE_HEALTH,
        [keys.state_key(q, s) for q in queues for s in states],
        [window_ms, MAX_PRIORITY],
        parse,
    )


#: States listed newest first (by finish or start time); the others oldest or most urgent first.
NEWEST_FIRST = frozenset({JobState.ACTIVE, JobState.COMPLETED, JobState.FAILED})


def list_jobs(
    queue: str, state: JobState, limit: int, cursor: str | None = None
) -> Call[tuple[list[Job], str | None]]:
    """One page of a state's jobs and the cursor of the next page (None at the end)."""
    score, _, last_id = (cursor or "").partition(":")

    def parse(raw: Any) -> tuple[list[Job], str | None]:
        page, hashes = raw
        jobs = [Job.from_hash(_pairs(h)) for h in hashes if h]
        more = len(page) // 2 == limit
        next_cursor = f"{page[-1]}:{page[-2]}" if more and page else None
        return jobs, next_cursor

    return Call(
        Lua.JOBS_LIST,
        [keys.state_key(queue, state)],
        [limit, score, last_id, int(state in NEWEST_FIRST)],
        parse,
    )


#: Ids a search call looks at, at most: bounds its time whatever the registry's size.
SEARCH_BUDGET = 5000


def search_jobs(
    limit: int,
    cursor: str | None = None,
    *,
    queue: str = "",
    state: str = "",
    prefix: str = "",
    actor: str = "",
) -> Call[tuple[list[Job], str | None]]:
    """Newest jobs first, filtered; the cursor continues after the last id scanned (None at the end)."""

    def parse(raw: Any) -> tuple[list[Job], str | None]:
        hashes, last = raw
        return [Job.from_hash(_pairs(h)) for h in hashes if h], (str(last) or None)

    return Call(
        Lua.JOBS_SEARCH,
        [keys.JOBS_INDEX],
        [limit, cursor or "", queue, state, prefix, actor, SEARCH_BUDGET],
        parse,
    )


@dataclass(frozen=True, slots=True)
class Found:
    """One call's worth of a content search: matches, where to go on, and how much was searched."""

    jobs: list[Job]
    #: The last member scanned; None when the range is exhausted.
    cursor: str | None
    #: Index entries or ids this call looked at.
    scanned: int
    #: Entries or ids in the whole range (what "searched N of M" counts against).
    candidates: int


def find_jobs(
    query: search.Query, limit: int, cursor: bytes = b"", budget: int = SEARCH_BUDGET
) -> Call[Found]:
    """A page of jobs matching a parsed query, newest first, looking at most at ``budget`` entries."""
    plan = search.plan(query)

    def parse(raw: Any) -> Found:
        hashes, last, scanned, total = raw
        last_text = last.decode() if isinstance(last, bytes) else str(last)
        jobs = [Job.from_hash(_pairs(h)) for h in hashes if h]
        return Found(jobs, last_text or None, int(scanned), int(total))

    return Call(
        Lua.JOBS_FIND,
        [plan.source],
        [limit, plan.low, plan.high, cursor, int(plan.indexed), budget, plan.filters],
        parse,
    )


#: Search index members the monitor's janitor looks at per tick (a million in under an hour).
SWEEP_BUDGET = 2000


def sweep_search_index(budget: int = SWEEP_BUDGET) -> Call[tuple[int, int]]:
    """Drop search index members whose job is gone, ``budget`` at a time; (looked at, dropped)."""
    return Call(
        Lua.SEARCH_SWEEP,
        [keys.SEARCH_INDEX, keys.SEARCH_SWEEP],
        [budget],
        lambda raw: (int(raw[0]), int(raw[1])),
    )


def counts(queues: Sequence[str]) -> Call[dict[str, dict[str, int]]]:
    """Jobs per queue and state (the counts of :func:`counts_at`, without its seq)."""
    at = counts_at(queues)
    return Call(at.script, at.keys, at.args, lambda raw: at.parse(raw).counts)


@dataclass(frozen=True, slots=True)
class CountsAt:
    """Counts and paused queues as of event ``seq``."""

    seq: int
    paused: list[str]
    counts: dict[str, dict[str, int]]


def counts_at(queues: Sequence[str]) -> Call[CountsAt]:
    """Counts, paused queues and the last event seq, atomically (a snapshot's base)."""
    pairs = [(q, s) for q in queues for s in JobState]

    def parse(raw: Any) -> CountsAt:
        seq, paused, flat = raw
        counts: dict[str, dict[str, int]] = {q: {} for q in queues}
        for (queue, state), n in zip(pairs, flat, strict=True):
            counts[queue][state.value] = int(n)
        return CountsAt(int(seq), sorted(paused), counts)

    return Call(Lua.SNAPSHOT_COUNTS, [keys.PAUSED, *(keys.state_key(q, s) for q, s in pairs)], [], parse)


def _pairs(flat: list[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))
