"""The keys scripts fill in themselves (issue 24): each shape is one template in shared/keys.py,
from which both the Python function and the prelude's Lua function of the same name are made."""

from __future__ import annotations

import inspect
import string

import pytest
import redis

from shared import keys
from shared.scripts import prelude

#: Awkward values: separators, braces and ``%`` (no formatting may read them), quotes and
#: backslashes (no Lua literal may swallow them), a newline, non-ASCII, nothing.
SAMPLES = ("j-0001", "q:with:colons", "{x} %s %d", 'it\'s \\ "quoted"', "a\nb", "ünïcode ✓", "")


def _holes(template: str) -> list[str]:
    return [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]


@pytest.mark.parametrize("name", sorted(keys.SCRIPT_KEYS))
def test_a_script_key_function_spells_its_key_as_the_python_function_does(
    name: str, raw: redis.Redis
) -> None:
    # Given a key function the scripts call, with its holes in the Python function's order
    template = keys.SCRIPT_KEYS[name]
    function = getattr(keys, name)
    assert list(inspect.signature(function).parameters) == _holes(template)
    # When the prelude's Lua function runs inside Redis on each sample (a rotation per hole)
    arity = len(_holes(template))
    for i in range(len(SAMPLES)):
        args = [SAMPLES[(i + k) % len(SAMPLES)] for k in range(arity)]
        lua = f"{prelude()}\nreturn {name}({', '.join(f'ARGV[{k + 1}]' for k in range(arity))})"
        # Then it gives the very string the Python function gives
        assert raw.eval(lua, 0, *args) == function(*args), (name, args)


@pytest.mark.parametrize(
    ("key", "spelled"),
    [
        (keys.job_key("j1"), "fq:job:j1"),
        (keys.state_key("diagnostics", "failed"), "fq:q:diagnostics:failed"),
        (keys.trash_job_key("j1"), "fq:trash:job:j1"),
        (keys.TRASH_JOB_PREFIX, "fq:trash:job:"),
        (keys.operation_key("op1"), "fq:op:op1"),
        (keys.operation_ids_key("op1"), "fq:op:op1:ids"),
        (keys.operation_trash_key("op1"), "fq:op:op1:trash"),
        (keys.failure_groups_key("diagnostics"), "fq:failures:diagnostics"),
        (keys.failure_group_key("diagnostics", "fp1"), "fq:failures:diagnostics:fp1"),
        (keys.failure_group_jobs_key("diagnostics", "fp1"), "fq:failures:diagnostics:fp1:jobs"),
    ],
)
def test_the_keys_of_existing_data_are_spelled_as_before(key: str, spelled: str) -> None:
    # Given the key names Redis already holds data under, the templates spell them unchanged
    assert key == spelled


def test_every_script_key_function_is_in_the_prelude_once() -> None:
    text = prelude()
    for name in keys.SCRIPT_KEYS:
        assert text.count(f"local function {name}(") == 1, name
    assert "__KEY_FUNCTIONS__" not in text
