"""The gateway over real HTTP against a real redis-server: snapshot, deltas, filters, resume."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
import redis
from aiohttp.test_utils import TestClient

from services.stream.main import build_app
from services.stream.state import CLIENTS
from shared import actions
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.config import Settings
from shared.registry import Registry
from shared.submit import submit
from tests import typed_redis
from tests.stream.conftest import AUTH, Stream, open_stream


async def test_snapshot_then_deltas_then_coalesced_stats(
    gateway: TestClient[Any, Any], registry: Registry
) -> None:
    # Given a queue with a waiting job and a paused queue
    first = submit(registry, "noop")
    registry.run(actions.pause("other"))
    # When a dashboard connects
    stream = await open_stream(gateway)
    snapshot = await stream.next()
    # Then it first gets the whole state, as of the last event's seq (submit, pause, its audit)
    assert snapshot.event == "snapshot" and snapshot.id == "3"
    data = snapshot.json["data"]
    assert data["counts"][Q]["waiting"] == 1 and data["paused"] == ["other"]
    assert [j["id"] for j in data["jobs"][Q]["waiting"]] == [first]
    # Then every change as it happens, each with its seq as id, and stats after them
    second = submit(registry, "noop")
    job = await stream.until(lambda e: e.event == "job")
    assert (job.id, job.json["data"]["job"], job.json["data"]["to"]) == ("4", second, "waiting")
    stats = await stream.until(lambda e: e.event == "stats")
    assert stats.json["data"]["counts"][Q]["waiting"] == 2 and stats.id == "4"
    # and a burst of transitions yields far fewer stats than transitions (one per 100 ms at most)
    for _ in range(50):
        submit(registry, "noop")
    seen = await _collect_for(stream, 1.0)
    jobs = [e for e in seen if e.event == "job"]
    stats_frames = [e for e in seen if e.event == "stats"]
    assert len(jobs) == 50
    assert 1 <= len(stats_frames) <= 12
    assert stats_frames[-1].json["data"]["counts"][Q]["waiting"] == 52
    stream.close()


async def _collect_for(stream: Stream, seconds: float) -> list[Any]:
    out = []
    try:
        async with asyncio.timeout(seconds):
            while True:
                out.append(await stream.next(timeout=seconds))
    except TimeoutError:
        pass
    return out


async def test_topic_and_queue_filters(gateway: TestClient[Any, Any], registry: Registry) -> None:
    pause_only = await open_stream(gateway, topics="pause")
    other_queue = await open_stream(gateway, queue="other")
    assert (await pause_only.next()).event == "snapshot"
    snapshot = await other_queue.next()
    assert list(snapshot.json["data"]["counts"]) == ["other"]
    submit(registry, "noop")
    registry.run(actions.pause(Q))
    registry.run(actions.pause("other"))
    # pause-only: the two pause events, no job, no stats
    events = await _collect_for(pause_only, 1.0)
    assert [(e.event, e.json["data"]["queue"]) for e in events] == [("pause", Q), ("pause", "other")]
    # queue filter: only the other queue's pause (and its stats), nothing of diagnostics
    events = await _collect_for(other_queue, 1.0)
    assert [e.event for e in events if e.event != "stats"] == ["pause"]
    assert all(e.json["data"].get("queue", "other") == "other" for e in events if e.event == "pause")
    assert all(list(e.json["data"]["counts"]) == ["other"] for e in events if e.event == "stats")


@pytest.mark.parametrize(
    ("params", "headers", "status", "code"),
    [
        ({"topics": "jobs,bogus"}, AUTH, 400, "bad_request"),
        ({"topics": ""}, AUTH, 400, "bad_request"),
        ({"queue": "bad queue!"}, AUTH, 400, "bad_request"),
        ({}, {**AUTH, "Last-Event-ID": "-3"}, 400, "bad_request"),
        ({}, {}, 401, "unauthorized"),
        ({}, {"Authorization": "Bearer nope"}, 401, "unauthorized"),
    ],
)
async def test_bad_requests_get_json_errors(
    gateway: TestClient[Any, Any], params: dict[str, str], headers: dict[str, str], status: int, code: str
) -> None:
    response = await gateway.get("/stream", params=params, headers=headers)
    assert response.status == status
    assert (await response.json())["error"]["code"] == code


async def test_last_event_id_replays_exactly_what_was_missed(
    gateway: TestClient[Any, Any], registry: Registry
) -> None:
    # Given a client that saw some events, then lost its connection
    stream = await open_stream(gateway, topics="jobs")
    await stream.next()
    for _ in range(3):
        submit(registry, "noop")
    seen = await stream.take(3)
    last = int(seen[-1].id or 0)
    stream.close()
    # When 500 events happen while it is away
    for _ in range(500):
        submit(registry, "noop")
    # Then reconnecting with Last-Event-ID gets exactly those 500, in order, then live ones
    resumed = await open_stream(gateway, topics="jobs", last_id=last)
    replayed = await resumed.take(500)
    assert [e.seq for e in replayed] == list(range(last + 1, last + 501))
    submit(registry, "noop")
    live = await resumed.next()
    assert live.event == "job" and live.seq == last + 501
    resumed.close()


async def test_a_new_event_source_resumes_by_query_parameter_and_the_header_wins(
    gateway: TestClient[Any, Any], registry: Registry
) -> None:
    # Given events a page missed after its EventSource ended for good (an HTTP error)
    for _ in range(3):
        submit(registry, "noop")
    # When it opens a new one with the last id it saw in the query (EventSource sets no headers)
    resumed = await open_stream(gateway, topics="jobs", last_event_id="1")
    # Then it gets what followed, not a snapshot
    assert [e.seq for e in await resumed.take(2)] == [2, 3]
    resumed.close()
    # And the browser's own reconnects (header, newer) win over the query it started with
    again = await open_stream(gateway, topics="jobs", last_id=2, last_event_id="1")
    first = await again.next()
    assert (first.event, first.seq) == ("job", 3)
    again.close()


async def test_resume_beyond_retention_gets_reset_and_fresh_snapshot(
    aiohttp_client: Callable[..., Any], settings: Settings, registry: Registry, raw: redis.Redis
) -> None:
    small = dataclasses.replace(settings, events_maxlen=10)
    registry.scripts = type(registry.scripts)(registry.client, 10)  # producers trim the stream to ~10
    gateway: TestClient[Any, Any] = await aiohttp_client(build_app(small))
    for _ in range(1500):
        submit(registry, "noop")
    oldest = int(typed_redis.xrange(raw, "fq:events", count=1)[0][1]["seq"])
    assert oldest > 2  # the early events are gone
    stream = await open_stream(gateway, last_id=1)
    reset = await stream.next()
    snapshot = await stream.next()
    assert reset.event == "reset"
    assert snapshot.event == "snapshot" and snapshot.json["data"]["counts"][Q]["waiting"] == 1500
    assert snapshot.id == "1500"


async def test_resume_from_a_future_seq_after_data_loss_resets(
    gateway: TestClient[Any, Any], registry: Registry
) -> None:
    submit(registry, "noop")
    stream = await open_stream(gateway, last_id=999)  # a seq this Redis never reached
    assert [(await stream.next()).event, (await stream.next()).event] == ["reset", "snapshot"]


async def test_client_disconnect_is_noticed_at_once_with_no_leaked_task(
    gateway: TestClient[Any, Any],
) -> None:
    clients = gateway.app[CLIENTS]
    before = len(asyncio.all_tasks())
    stream = await open_stream(gateway)
    await stream.next()
    assert len(clients) == 1
    stream.close()
    async with asyncio.timeout(2.0):  # the client gone, and then its tasks
        while len(clients) or len(asyncio.all_tasks()) > before:
            await asyncio.sleep(0.01)


async def test_websocket_carries_the_same_events_as_sse(
    gateway: TestClient[Any, Any], registry: Registry
) -> None:
    sse = await open_stream(gateway, topics="jobs,pause")
    ws = await gateway.ws_connect("/ws", params={"topics": "jobs,pause"}, headers=AUTH)
    assert (await sse.next()).event == "snapshot"
    first = await ws.receive_json(timeout=5)
    assert first["type"] == "snapshot"
    submit(registry, "noop")
    registry.run(actions.pause(Q))
    submit(registry, "sleep", [1])
    sse_events = await sse.take(3, kinds=("job", "pause"))
    ws_events = [await ws.receive_json(timeout=5) for _ in range(3)]
    assert [e.json for e in sse_events] == ws_events
    # and a WebSocket resumes like SSE, from a query parameter
    await ws.close()
    submit(registry, "noop")
    again = await gateway.ws_connect(
        "/ws", params={"topics": "jobs", "last_event_id": str(ws_events[-1]["seq"])}, headers=AUTH
    )
    missed = await again.receive_json(timeout=5)
    assert missed["seq"] == ws_events[-1]["seq"] + 1 and missed["type"] == "job"
    await again.close()


async def test_websocket_from_a_foreign_origin_is_refused(gateway: TestClient[Any, Any]) -> None:
    response = await gateway.get(
        "/ws",
        headers={**AUTH, "Origin": "http://evil.example", "Upgrade": "websocket", "Connection": "Upgrade"},
    )
    assert response.status == 403


async def test_cors_only_for_the_dashboard_origin(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> None:
    app = build_app(dataclasses.replace(settings, dashboard_origin="http://dash.example"))
    gateway: TestClient[Any, Any] = await aiohttp_client(app)
    ok = await gateway.get("/stream", headers={**AUTH, "Origin": "http://dash.example"})
    assert ok.headers["Access-Control-Allow-Origin"] == "http://dash.example"
    assert ok.headers["Access-Control-Allow-Credentials"] == "true"
    ok.close()
    other = await gateway.get("/stream", headers={**AUTH, "Origin": "http://other.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    other.close()


async def test_idle_connection_gets_keep_alive_comments_and_a_retry_hint(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> None:
    gateway: TestClient[Any, Any] = await aiohttp_client(
        build_app(dataclasses.replace(settings, stream_ping_s=0.2))
    )
    response = await gateway.get("/stream", headers=AUTH)
    raw = b""
    async with asyncio.timeout(5):
        while raw.count(b": ping") < 2:
            raw += await response.content.readany()
    first = raw.split(b"\r\n\r\n", 1)[0].decode()
    assert first.startswith("retry: ") and 1000 <= int(first.split(": ")[1]) <= 3000
    response.close()


async def test_snapshot_rows_leave_out_job_details(gateway: TestClient[Any, Any], registry: Registry) -> None:
    submit(registry, "fail", ["x" * 500])
    stream = await open_stream(gateway)
    (row,) = (await stream.next()).json["data"]["jobs"][Q]["waiting"]
    assert row["actor"] == "fail" and row["state"] == "waiting"
    assert not {"timeline", "traceback", "args", "result"} & set(row)
