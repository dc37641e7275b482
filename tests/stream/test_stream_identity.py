"""Queue scope and revocation on the gateway (issue 22): a scoped operator is never sent another
queue's events over SSE or WebSocket, and a revoked key's open streams close within a second."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from services.stream.main import build_app
from services.stream.state import STREAM_SESSIONS
from shared import actions
from shared.auth import Identity, Role
from shared.catalog import DIAGNOSTICS_QUEUE as Q
from shared.config import Settings
from shared.face_jobs import FACE_QUEUE
from shared.registry import Registry
from shared.sessions import SESSION_COOKIE
from shared.submit import submit
from tests.stream.conftest import Stream, open_stream

ADMIN_WHO = "FQ_ADMIN_TOKEN|admin|127.0.0.1"


def _cookie(value: str) -> dict[str, str]:
    return {"Cookie": f"{SESSION_COOKIE}={value}", "Authorization": ""}


async def _key(gateway: TestClient[Any, Any], role: Role, queues: list[str] | None) -> tuple[str, str]:
    key, secret = await gateway.app[STREAM_SESSIONS].keys.create("scoped", role, queues, 0, ADMIN_WHO)
    return key.id, secret


async def _both_closed_within_a_second(ws: aiohttp.ClientWebSocketResponse, sse: Stream) -> None:
    """Wait for the gateway to close a WebSocket and an SSE stream; fails past one second."""
    async with asyncio.timeout(1.0):
        while True:
            message = await ws.receive()
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                break
        try:
            while True:
                await sse.next(timeout=1.0)
        except (StopAsyncIteration, aiohttp.ClientPayloadError):
            pass


async def test_a_scoped_operator_is_never_sent_another_queues_events(
    gateway: TestClient[Any, Any], registry: Registry
) -> None:
    # Given a job on the diagnostics queue and an operator scoped to the face queue
    submit(registry, "noop")
    _, secret = await _key(gateway, Role.OPERATOR, [FACE_QUEUE])
    auth = {"Authorization": f"Bearer {secret}"}
    topics = "jobs,pause,stats,workers,progress,audit"
    sse = await open_stream(gateway, headers=auth, topics=topics)
    ws = await gateway.ws_connect("/ws", params={"topics": topics}, headers=auth)
    # Then its snapshots hold only its queue
    for snapshot in ((await sse.next()).json, await ws.receive_json(timeout=5)):
        assert snapshot["type"] == "snapshot"
        data = snapshot["data"]
        assert list(data["counts"]) == [FACE_QUEUE] and list(data["jobs"]) == [FACE_QUEUE]
        assert data["workers"] == []
    # When the other queue changes (jobs, pause, audit), then its own queue changes
    submit(registry, "noop")
    registry.run(actions.pause(Q, who="someone|admin|10.0.0.1"))
    registry.run(actions.resume(Q, who="someone|admin|10.0.0.1"))
    registry.run(actions.pause(FACE_QUEUE, who="someone|admin|10.0.0.1"))
    # Then the first event either transport sends is its own queue's: nothing of the other came first
    sse_seen = await sse.take(1, kinds=("job", "pause", "audit", "admin", "workers", "progress"))
    assert sse_seen[0].json["data"]["queue"] == FACE_QUEUE
    while True:
        frame = await ws.receive_json(timeout=5)
        if frame["type"] != "stats":
            break
        assert list(frame["data"]["counts"]) in ([FACE_QUEUE], []), frame
    assert frame["data"]["queue"] == FACE_QUEUE, frame
    # And asking for the other queue by name is refused
    refused = await gateway.get("/stream", params={"queue": Q}, headers=auth)
    assert refused.status == 403
    refused.close()
    sse.close()
    await ws.close()


async def test_a_scoped_client_resuming_gets_no_other_queues_events_in_its_replay(
    gateway: TestClient[Any, Any], registry: Registry
) -> None:
    _, secret = await _key(gateway, Role.VIEWER, [FACE_QUEUE])
    auth = {"Authorization": f"Bearer {secret}"}
    first = await open_stream(gateway, headers=auth)
    cursor = int((await first.next()).id or 0)
    first.close()
    # While it was away, both queues changed
    submit(registry, "noop")
    registry.run(actions.pause(FACE_QUEUE, who="x|admin|10.0.0.1"))
    resumed = await open_stream(gateway, headers=auth, last_id=cursor)
    event = await resumed.take(1, kinds=("job", "pause", "admin"))
    assert event[0].event == "pause" and event[0].json["data"]["queue"] == FACE_QUEUE
    resumed.close()


async def test_a_revoked_key_loses_its_open_streams_within_a_second(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> None:
    # Given a gateway that re-checks credentials only every minute by itself
    gateway: TestClient[Any, Any] = await aiohttp_client(
        build_app(dataclasses.replace(settings, stream_session_check_s=60.0))
    )
    key_id, secret = await _key(gateway, Role.VIEWER, None)
    auth = {"Authorization": f"Bearer {secret}"}
    sse = await open_stream(gateway, headers=auth)
    ws = await gateway.ws_connect("/ws", headers=auth)
    assert (await sse.next()).event == "snapshot" and (await ws.receive_json(timeout=5))["type"] == "snapshot"
    # When an admin revokes the key
    await gateway.app[STREAM_SESSIONS].keys.revoke(key_id, ADMIN_WHO)
    # Then both connections are closed by the gateway within a second
    await _both_closed_within_a_second(ws, sse)
    # And reconnecting is refused
    again = await gateway.get("/stream", headers=auth)
    assert again.status == 401
    again.close()


async def test_ending_a_persons_sessions_closes_their_open_streams_within_a_second(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> None:
    # Given a person's session (as an SSO login opens one) streaming, and another person's
    gateway: TestClient[Any, Any] = await aiohttp_client(
        build_app(dataclasses.replace(settings, stream_session_check_s=60.0))
    )
    store = gateway.app[STREAM_SESSIONS]
    _, ada_cookie = await store.open(Identity("ada@example.com", Role.OPERATOR, kind="oidc"), "", "10.0.0.1")
    _, bob_cookie = await store.open(Identity("bob@example.com", Role.VIEWER, kind="oidc"), "", "10.0.0.2")
    ada = await open_stream(gateway, headers=_cookie(ada_cookie))
    bob = await open_stream(gateway, headers=_cookie(bob_cookie))
    assert (await ada.next()).event == "snapshot" and (await bob.next()).event == "snapshot"
    # When an admin ends Ada's sessions
    assert await store.end_of(ADMIN_WHO, person="ada@example.com") == 1
    # Then her stream ends within a second, and Bob's goes on
    async with asyncio.timeout(1.0):
        try:
            while True:
                await ada.next(timeout=1.0)
        except (StopAsyncIteration, aiohttp.ClientPayloadError):
            pass
    registry_pause = actions.pause(Q, who="x|admin|10.0.0.1")
    await gateway.app[STREAM_SESSIONS].registry.run(registry_pause)
    assert (await bob.take(1, kinds=("pause",)))[0].json["data"]["queue"] == Q
    bob.close()


async def test_logging_out_closes_the_sessions_open_streams_within_a_second(
    aiohttp_client: Callable[..., Any], settings: Settings
) -> None:
    # Given a gateway that re-checks sessions only every minute by itself, and a person's
    # session (as an SSO login opens one) streaming over SSE and WebSocket
    gateway: TestClient[Any, Any] = await aiohttp_client(
        build_app(dataclasses.replace(settings, stream_session_check_s=60.0))
    )
    store = gateway.app[STREAM_SESSIONS]
    session, cookie = await store.open(Identity("ada@example.com", Role.VIEWER, kind="oidc"), "", "10.0.0.1")
    sse = await open_stream(gateway, headers=_cookie(cookie))
    ws = await gateway.ws_connect("/ws", headers=_cookie(cookie))
    assert (await sse.next()).event == "snapshot" and (await ws.receive_json(timeout=5))["type"] == "snapshot"
    # When she logs out (DELETE /api/v1/session ends the session this way)
    assert await store.end(session, "10.0.0.1")
    # Then both her streams are closed by the gateway within a second
    await _both_closed_within_a_second(ws, sse)
    # And her cookie opens nothing any more; a second logout changes nothing
    again = await gateway.get("/stream", headers=_cookie(cookie))
    assert again.status == 401
    again.close()
    assert not await store.end(session)


async def test_a_viewer_may_follow_the_audit_and_a_scoped_one_only_of_its_queues(
    gateway: TestClient[Any, Any], registry: Registry
) -> None:
    # Given a viewer of every queue and a viewer scoped to the face queue, both opted into `audit`
    # (any role reads the audit, as GET /api/v1/audit: the Audit view is in everyone's dashboard)
    _, every = await _key(gateway, Role.VIEWER, None)
    _, scoped = await _key(gateway, Role.VIEWER, [FACE_QUEUE])
    everyone = await open_stream(gateway, headers={"Authorization": f"Bearer {every}"}, topics="audit")
    faces = await open_stream(gateway, headers={"Authorization": f"Bearer {scoped}"}, topics="audit")
    assert (await everyone.next()).event == "snapshot" and (await faces.next()).event == "snapshot"
    # When an admin pauses the other queue, then the face queue
    registry.run(actions.pause(Q, who="ada|admin|10.0.0.1"))
    registry.run(actions.pause(FACE_QUEUE, who="ada|admin|10.0.0.1"))
    # Then the viewer of every queue is sent both entries, naming who, role and address
    seen = [e.json["data"] for e in await everyone.take(2, kinds=("audit",))]
    assert [(d["queue"], d["who"], d["role"], d["address"]) for d in seen] == [
        (Q, "ada", "admin", "10.0.0.1"),
        (FACE_QUEUE, "ada", "admin", "10.0.0.1"),
    ]
    # And the scoped viewer is refused the other queue's: its first audit event is its own queue's
    (first,) = await faces.take(1, kinds=("audit",))
    assert first.json["data"]["queue"] == FACE_QUEUE
    everyone.close()
    faces.close()
