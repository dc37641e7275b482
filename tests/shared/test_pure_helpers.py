"""Pure helpers, table-driven and without Redis: ids, scores, templates, catalog, errors, events."""

from __future__ import annotations

import json

import pytest
import redis

from shared import errors
from shared.catalog import CATALOG, lookup
from shared.events import Event, EventType
from shared.jobs import new_job_id
from shared.messages import message_template
from shared.scripts import SOURCES, Lua, translate
from shared.states import PRIORITY_SCALE, waiting_score


def test_job_ids_are_pasteable_unique_and_ordered() -> None:
    ids = [new_job_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(len(i) == 16 and i.isalnum() and i == i.lower() for i in ids)
    assert not set("".join(ids)) & set("ilou")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ((0, 2_000_000_000_000), (1, 1_000_000_000_000)),  # priority beats age
        ((5, 1_000), (5, 2_000)),  # then older first
        ((98, 1_999_999_999_999), (99, 0)),
    ],
)
def test_waiting_score_orders_priority_then_age(a: tuple[int, int], b: tuple[int, int]) -> None:
    assert waiting_score(*a) < waiting_score(*b)
    assert waiting_score(99, 1_999_999_999_999) < 2**53  # exact in a double, as Redis stores it


def test_message_template_completes_to_a_dramatiq_message() -> None:
    template = message_template(
        job_id="j1",
        queue="q",
        actor="a",
        args=[[], {}],
        kwargs={"k": []},
        # Per-dispatch options a retried message still carries are dropped: dispatch sets them afresh.
        options={"max_retries": 2, "retries": 7, "eta": 1, "redis_message_id": "x", "on_success": "cb"},
        created_ms=5,
    )
    # What jobs_dispatch.lua appends:
    message = json.loads(template + ',"fq_gen":3,"retries":1,"redis_message_id":"j1:1"}}')
    assert message["args"] == [[], {}]
    assert message["kwargs"] == {"k": []}
    assert message["message_timestamp"] == 5
    assert message["options"] == {
        "fq_job": "j1",
        "max_retries": 2,
        "on_success": "cb",
        "fq_gen": 3,
        "retries": 1,
        "redis_message_id": "j1:1",
    }


def test_message_template_refuses_what_json_cannot_hold() -> None:
    # Dramatiq's JSON encoder refuses these too: a class as a message option cannot travel.
    with pytest.raises(TypeError):
        message_template(
            job_id="j", queue="q", actor="a", args=[], options={"throws": ValueError}, created_ms=1
        )
    with pytest.raises(ValueError):
        message_template(job_id="j", queue="q", actor="a", args=[float("nan")], created_ms=1)


@pytest.mark.parametrize(
    ("actor", "args", "bound"),
    [
        ("noop", [], []),
        ("sleep", {"seconds": 1}, [1]),
        ("sleep", [0.5], [0.5]),
        ("fail", {}, []),
        ("fail", ["x"], ["x"]),
    ],
)
def test_catalog_binds_valid_arguments(actor: str, args: object, bound: list[object]) -> None:
    assert CATALOG[actor].bind(args) == bound  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("actor", "args", "message"),
    [
        ("sleep", [], "needs 1"),
        ("sleep", ["1"], "expected number"),
        ("sleep", [True], "expected number"),
        ("sleep", [-1], ">= 0"),
        ("sleep", [1, 2], "at most 1"),
        ("sleep", {"secs": 1}, "unknown arguments"),
        ("fail", ["x" * 1001], "longer than"),
    ],
)
def test_catalog_rejects_bad_arguments(actor: str, args: object, message: str) -> None:
    with pytest.raises(errors.InvalidArguments, match=message):
        CATALOG[actor].bind(args)  # type: ignore[arg-type]


def test_lookup_rejects_unknown_actor_and_wrong_queue() -> None:
    with pytest.raises(errors.UnknownActor):
        lookup("nope")
    with pytest.raises(errors.UnknownActor):
        lookup("noop", "other")


def test_every_lua_file_is_bound_and_documents_its_slots() -> None:
    from importlib import resources

    files = {
        p.name[:-4] for p in resources.files("shared").joinpath("lua").iterdir() if p.name.endswith(".lua")
    }
    assert files - {"_prelude"} == {s.value for s in Lua}
    for script, source in SOURCES.items():
        assert "__PRIORITY_SCALE__" not in source and str(PRIORITY_SCALE) in source
        own = resources.files("shared").joinpath("lua", f"{script.value}.lua").read_text()
        assert own.startswith("-- ") and "-- KEYS[3" in own, f"{script} must document its key slots"


@pytest.mark.parametrize(
    ("text", "cls"),
    [
        ("FQ job_not_found abc", errors.JobNotFound),
        ("FQ job_exists abc", errors.JobExists),
        ("FQ invalid_transition active cannot be retried", errors.InvalidTransition),
    ],
)
def test_script_errors_translate_to_the_error_tree(text: str, cls: type[Exception]) -> None:
    assert isinstance(translate(redis.ResponseError(text)), cls)


def test_foreign_script_error_is_left_alone() -> None:
    exc = redis.ResponseError("WRONGTYPE")
    assert translate(exc) is exc


def test_event_round_trips_through_json() -> None:
    event = Event(seq=7, id="1-0", ts=1.5, type=EventType.PAUSE, data={"queue": "q", "paused": True})
    assert Event.from_message(event.to_json()) == event
