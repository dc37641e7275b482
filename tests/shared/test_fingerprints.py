"""Failure fingerprints (issue 20): pure, table-driven, no Redis."""

from __future__ import annotations

import pytest

from shared.fingerprints import CHOSEN, digest, fingerprint, frames_of_text, normalise


def _raise(kind: type[Exception], message: str) -> Exception:
    try:
        raise kind(message)
    except Exception as exc:
        return exc


def _deeper(kind: type[Exception], message: str) -> Exception:
    def inner() -> None:
        raise kind(message)

    try:
        inner()
    except Exception as exc:
        return exc
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('File "/srv/app/x.py", line 42, in run', "File #, line #, in run"),
        ("at 0x7f3a2b1c0d90 job 06h3d2wx", "at # job #h#d#wx"),
        ("key 'user-17' missing", "key # missing"),
    ],
)
def test_normalise_strips_numbers_addresses_and_quoted_values(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_same_cause_same_fingerprint_whatever_the_message() -> None:
    a, _ = fingerprint("act", _raise(ValueError, "job 1 at 0x10"))
    b, _ = fingerprint("act", _raise(ValueError, "job 2 at 0x20"))
    assert a == b and len(a) == 16


@pytest.mark.parametrize(
    ("other_actor", "other_kind", "other_raiser"),
    [("other", ValueError, _raise), ("act", KeyError, _raise), ("act", ValueError, _deeper)],
)
def test_actor_type_or_frames_make_another_group(
    other_actor: str, other_kind: type[Exception], other_raiser: object
) -> None:
    base, _ = fingerprint("act", _raise(ValueError, "x"))
    other, _ = fingerprint(other_actor, other_raiser(other_kind, "x"))  # type: ignore[operator]
    assert base != other


def test_an_actor_may_choose_its_fingerprint() -> None:
    exc = _raise(TimeoutError, "upstream")
    exc.fingerprint = "upstream-timeout"  # type: ignore[attr-defined]
    assert fingerprint("act", exc) == ("upstream-timeout", "TimeoutError")
    assert fingerprint("act", None, error_line="E: x", options={"fingerprint": "mine"})[0] == "mine"
    assert fingerprint("act", None, options={"fingerprint": "has spaces!"})[0] == digest("has spaces!")
    assert CHOSEN.match("a" * 64) and not CHOSEN.match("a" * 65)


def test_without_the_exception_the_traceback_text_is_used() -> None:
    text = 'Traceback:\n  File "/a/b.py", line 3, in outer\n  File "/a/c.py", line 9, in inner\nE: boom\n'
    assert frames_of_text(text) == ["b.py:outer", "c.py:inner"]
    one, name = fingerprint("act", None, error_line="E: boom 1", traceback_text=text)
    two, _ = fingerprint(
        "act", None, error_line="E: boom 2", traceback_text=text.replace("line 9", "line 10")
    )
    assert one == two and name == "E"
