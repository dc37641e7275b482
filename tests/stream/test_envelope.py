"""The event envelope is one contract (shared/events.py): the bytes a script publishes, the
frame rebuilt from its ``fq:events`` entry, and the SSE and WebSocket frames a client receives
live or by replay are the same bytes."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import redis
from aiohttp.test_utils import TestClient

from services.stream.frames import from_entry, from_published, gateway_frame, sse_frame
from shared import keys
from shared.events import ENVELOPE, ENVELOPE_FIELDS, EVENT_VERSION, EventType, GatewayType, envelope
from shared.registry import Registry
from shared.scripts import Lua, load_source
from shared.submit import submit
from tests import typed_redis
from tests.processes import ROOT, wait_for
from tests.stream.conftest import AUTH


async def _sse_bytes_until(response: Any, marker: bytes, timeout: float = 5.0) -> bytes:
    """Raw body bytes up to and including the SSE frame that contains ``marker``."""
    buffer = b""
    async with asyncio.timeout(timeout):
        while True:
            buffer += await response.content.readany()
            at = buffer.find(marker)
            if at >= 0 and b"\r\n\r\n" in buffer[at:]:
                start = buffer.rfind(b"\r\n\r\n", 0, at) + 4
                return bytes(buffer[start : buffer.index(b"\r\n\r\n", at) + 4])


async def test_published_replayed_and_streamed_event_are_the_same_bytes(
    gateway: TestClient[Any, Any], registry: Registry, raw: redis.Redis
) -> None:
    # Given a subscriber on the channel, a live SSE client and a live WebSocket client
    pubsub = typed_redis.pubsub(raw)
    pubsub.subscribe(keys.UPDATES_CHANNEL)
    wait_for(lambda: pubsub.get_message(timeout=0.1), what="subscription")
    live = await gateway.get("/stream", params={"topics": "jobs"}, headers=AUTH)
    ws = await gateway.ws_connect("/ws", params={"topics": "jobs"}, headers=AUTH)
    assert (await ws.receive_json(timeout=5))["type"] == GatewayType.SNAPSHOT
    # When a script publishes one event
    job_id = submit(registry, "noop")
    message = wait_for(lambda: pubsub.get_message(timeout=0.2), what="the published event")
    published = message["data"]
    # Then the stream entry rebuilds exactly the published bytes
    [(entry_id, fields)] = typed_redis.xrange(raw, keys.EVENTS_STREAM, count=1)
    entry = dict(fields)
    replayed, live_frame = from_entry(entry_id, entry), from_published(published)
    assert replayed.payload == published
    assert (replayed.sse, replayed.ws, replayed.queue) == (live_frame.sse, live_frame.ws, live_frame.queue)
    assert published.startswith(f'{{"v":{EVENT_VERSION},"seq":{entry["seq"]},"id":"{entry_id}"')
    # and a client receives those bytes: live SSE, WebSocket, and SSE replayed by Last-Event-ID
    expected = sse_frame(EventType.JOB, published, int(entry["seq"]))
    assert await _sse_bytes_until(live, job_id.encode()) == expected
    assert (await ws.receive_str(timeout=5)) == published
    resumed = await gateway.get(
        "/stream", params={"topics": "jobs"}, headers={**AUTH, "Last-Event-ID": str(int(entry["seq"]) - 1)}
    )
    assert await _sse_bytes_until(resumed, job_id.encode()) == expected
    for closing in (live, resumed):
        closing.close()
    await ws.close()
    pubsub.close()


def test_the_scripts_publish_the_envelope_of_shared_events() -> None:
    # Given any script's loaded text, its envelope is shared/events.py's, not a copy
    text = load_source(Lua.JOB_SUBMIT)
    assert f"local ENVELOPE = '{ENVELOPE}'" in text
    assert '"v":' not in text.replace(ENVELOPE, "")


def test_a_gateway_frame_is_the_event_envelope_without_a_stream_id() -> None:
    # Given the same frame contents, the gateway's bytes are the published envelope's, field for
    # field and in the same order, less the stream id (a gateway frame has none)
    data = {"counts": {"diagnostics": {"waiting": 2}}}
    body = json.dumps(data, separators=(",", ":"))
    published = envelope(41, "1764383112418-0", "1764383112.419", GatewayType.STATS, body)
    framed = gateway_frame(GatewayType.STATS, data, 41)
    expected = published.replace(',"id":"1764383112418-0"', "").replace("1764383112.419", f"{framed.ts:.3f}")
    assert framed.payload == expected
    assert list(json.loads(framed.payload)) == ["v", *(n for n, _ in ENVELOPE_FIELDS if n != "id")]


#: An event type a script names: the literal first argument of emit or emit_raw.
_EMITTED = re.compile(r"\bemit(?:_raw)?\(\s*'([^']*)'")
_EMIT_CALLS = re.compile(r"\bemit(?:_raw)?\(")


def test_every_event_type_a_script_emits_is_an_event_type_of_shared_events() -> None:
    # Given every script (the prelude included), each emit names a type shared/events.py defines
    scripts = sorted((ROOT / "shared" / "lua").glob("*.lua"))
    emitted: dict[str, str] = {}
    for path in scripts:
        text = path.read_text()
        literal = _EMITTED.findall(text)
        # (the only calls not naming a literal type are the prelude's own definitions, which
        # pass their etype on)
        passing_on = len(_EMIT_CALLS.findall(text)) - len(literal)
        assert passing_on == (3 if path.name == "_prelude.lua" else 0), (
            f"{path.name}: an emit of a computed type"
        )
        emitted.update({etype: path.name for etype in literal})
    unknown = {etype: where for etype, where in emitted.items() if etype not in set(EventType)}
    assert not unknown, f"event types the scripts emit but shared/events.EventType lacks: {unknown}"
    # and the check sees the scripts (a moved folder would make it vacuous)
    assert {"job", "gallery", "audit", "workers", "history"} <= emitted.keys()
