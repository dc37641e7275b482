"""The keys scripts fill in themselves (issue 24): each shape is one template in shared/keys.py,
from which both the Python function and the prelude's Lua function of the same name are made."""

from __future__ import annotations

import inspect
import re
import string

import pytest
import redis

from shared import keys
from shared.scripts import lua_key_function, prelude
from shared.states import JobState
from tests.processes import ROOT

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


def test_a_template_s_own_quotes_backslashes_and_braces_reach_lua_intact(raw: redis.Redis) -> None:
    # Given a template whose fixed text a naive Lua literal would break
    template = "a'b\\c\n{{x}}:{part}"
    lua = lua_key_function("odd_key", template)
    # Then its Lua function spells what str.format does, and a bad hole is refused
    assert raw.eval(f"{lua}\nreturn odd_key(ARGV[1])", 0, "p") == template.format(part="p")
    with pytest.raises(ValueError, match="holes"):
        lua_key_function("bad_key", "fq:{part!r}")


@pytest.mark.parametrize(
    ("key", "spelled"),
    [
        (keys.job_key("j1"), "fq:job:j1"),
        (keys.state_key("diagnostics", "failed"), "fq:q:diagnostics:failed"),
        (keys.state_key("diagnostics", JobState.ACTIVE), "fq:q:diagnostics:active"),
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


def test_every_script_key_function_is_in_the_prelude_once_and_called() -> None:
    text = prelude()
    scripts = "\n".join(
        _COMMENT.sub("", line)
        for p in (ROOT / "shared" / "lua").glob("*.lua")
        for line in p.read_text().splitlines()
    )
    for name in keys.SCRIPT_KEYS:
        assert text.count(f"local function {name}(") == 1, name
        # (a template no script calls belongs with the other keys, not here)
        assert re.search(rf"\b{name}\(", scripts), f"no script calls {name}"
    assert "__KEY_FUNCTIONS__" not in text


#: A key name built in Lua: `..` glued onto a name ending in _PREFIX, _prefix or _key (or onto a
#: ``*_key(...)`` call), a *_PREFIX glued on, or a literal spelling facequeue's or Dramatiq's
#: namespace. Other concatenations (messages, message ids, lex bounds, event JSON) are let be.
_KEY_BUILDING = re.compile(
    r"\b\w+(?:_PREFIX|_prefix|_key)\s*\.\."
    r"|\b\w+_key\([^()]*\)\s*\.\."
    r"|\.\.\s*\w+(?:_PREFIX|_prefix)\b"
    r"|['\"](?:fq|dramatiq):"
)
_COMMENT = re.compile(r"(?:^|\s)--.*$")


def _builds_a_key(line: str) -> bool:
    return _KEY_BUILDING.search(_COMMENT.sub("", line)) is not None


@pytest.mark.parametrize(
    "line",
    [  # lines the scripts had before issue 24's templates
        "  local group_key = FAILURE_PREFIX .. queue .. ':' .. fp",
        "  redis.call('ZADD', group_key .. ':jobs', finished_ms, job_id)",
        "  redis.call('ZADD', STATE_PREFIX .. job_queue .. ':' .. state, score, job_id)",
        "  if op_id ~= '' then redis.call('ZREM', OPERATION_PREFIX .. op_id .. ':trash', job_id) end",
        "    redis.call('DEL', op_key, op_key .. ':ids')",
        "  local f = redis.call('HMGET', job_prefix .. job_id, 'state', 'queue')",
        "  hashes[#hashes + 1] = redis.call('HGETALL', job_prefix .. page[i])",
        # and ways round the helpers
        "  redis.call('DEL', operation_key(op_id) .. ':ids')",
        "  local key = 'fq:job:' .. job_id",
    ],
)
def test_the_key_building_check_catches_a_script_building_a_key(line: str) -> None:
    assert _builds_a_key(line)


@pytest.mark.parametrize(
    "line",
    [  # concatenations that build no key name
        "if prefix ~= '' then max = '[' .. prefix .. '\\255' end",
        "          local message_id = job_id .. ':' .. redis.call('HINCRBY', record, 'dispatches', 1)",
        "    start = redis.call('ZCOUNT', state_key, '(' .. cursor_score, '+inf')",
        "redis.call('ZADD', changes_key, version, version .. ':+:' .. identity)",
        "if redis.call('GET', lease_key) ~= owner .. ' ' .. token then",
        "  redis.call('ZADD', trash_key, ts_ms, job_id .. '|' .. op_id)",
        "  return fail('job_not_found', 'job ' .. job_id .. ' is not in the trash')",
        "  local f = redis.call('HMGET', job_key(job_id), 'state', 'queue')",
        "-- KEYS[15] operation trash  fq:op:<id>:trash (what this operation deleted)",
        "  redis.call('PERSIST', source_key)  -- the ids set .. fq:op:<id>:ids",
    ],
)
def test_the_key_building_check_lets_other_concatenations_be(line: str) -> None:
    assert not _builds_a_key(line)


def test_no_script_builds_a_key_name_itself() -> None:
    # Given every script as written (the prelude's generated key functions are not in the files)
    scripts = sorted((ROOT / "shared" / "lua").glob("*.lua"))
    assert len(scripts) > 40 and any(p.name == "_prelude.lua" for p in scripts)
    # Then none glues a key name together: each calls the key functions of shared/keys.py
    building = [
        f"{path.name}:{n}: {line.strip()}"
        for path in scripts
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if _builds_a_key(line)
    ]
    assert not building, "scripts building key names (use the prelude's key functions):\n" + "\n".join(
        building
    )
