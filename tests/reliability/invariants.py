"""What must hold after any fault: the registry agrees with itself and the event stream has no gap."""

from __future__ import annotations

import json
from collections import Counter

import redis

from shared import keys
from shared.states import JobState
from tests import typed_redis


def check(raw: redis.Redis) -> dict[str, int]:
    """Assert every invariant; returns jobs per state (for the scenario's own assertions)."""
    job_ids = typed_redis.zrange(raw, keys.JOBS_INDEX)
    queues = sorted(typed_redis.smembers(raw, keys.QUEUES))
    member_of: dict[str, list[str]] = {}
    per_state: Counter[str] = Counter()
    for queue in queues:
        for state in JobState:
            for job_id in typed_redis.zrange(raw, keys.state_key(queue, state.value)):
                member_of.setdefault(job_id, []).append(state.value)
                per_state[state.value] += 1
    # The per-state counts add up to the jobs in the registry, each job in exactly one set...
    assert sum(per_state.values()) == len(job_ids), (dict(per_state), len(job_ids))
    assert set(member_of) == set(job_ids)
    doubles = {j: s for j, s in member_of.items() if len(s) != 1}
    assert not doubles, f"jobs in more than one state set: {list(doubles.items())[:5]}"
    # ...and the set it is in is the state its record says
    pipe = raw.pipeline(transaction=False)
    for job_id in job_ids:
        pipe.hget(keys.job_key(job_id), "state")
    recorded = pipe.execute()
    wrong = [(j, r, member_of[j][0]) for j, r in zip(job_ids, recorded, strict=True) if r != member_of[j][0]]
    assert not wrong, f"records disagree with their sets: {wrong[:5]}"
    # Event sequence numbers are gap-free and unique
    pipe = raw.pipeline(transaction=True)  # read both at one instant: services may still be emitting
    pipe.xrange(keys.EVENTS_STREAM, "-", "+")
    pipe.get(keys.EVENTS_SEQ)
    entries, counter = pipe.execute()
    seqs = [int(fields["seq"]) for _, fields in entries]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))) if seqs else True, "event seq gap or duplicate"
    assert int(counter or 0) == (seqs[-1] if seqs else 0), "the last event is not the last seq issued"
    return dict(per_state)


def job_transitions(raw: redis.Redis) -> dict[str, list[tuple[str | None, str | None]]]:
    """Every job's (from, to) transitions, from the event stream."""
    out: dict[str, list[tuple[str | None, str | None]]] = {}
    for _, fields in typed_redis.xrange(raw, keys.EVENTS_STREAM):
        if fields["type"] == "job":
            data = json.loads(fields["data"])
            out.setdefault(data["job"], []).append((data["from"], data["to"]))
    return out


def job_events(raw: redis.Redis, job_id: str) -> list[dict[str, object]]:
    """One job's transition events in full (reason, worker, attempt): what a failure message needs."""
    entries = typed_redis.xrange(raw, keys.EVENTS_STREAM)
    events = (json.loads(f["data"]) for _, f in entries if f["type"] == "job")
    return [e for e in events if e["job"] == job_id]


def audit_actions(raw: redis.Redis) -> Counter[str]:
    return Counter(fields["action"] for _, fields in typed_redis.xrange(raw, keys.AUDIT_STREAM))
