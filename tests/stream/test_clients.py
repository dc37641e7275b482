"""Clients without a server: who gets a frame, on which path, and who is dropped as slow."""

from __future__ import annotations

import asyncio
import socket

import pytest
from prometheus_client import CollectorRegistry

from services.stream.clients import RESNAPSHOT, Client, Clients, FrameQueue
from services.stream.frames import from_published, ws_text
from services.stream.wire import SSE_CHUNKED, SSE_PLAIN, WEBSOCKET, Socket
from shared.metrics import StreamMetrics


def job_frame(seq: int) -> str:
    return (
        f'{{"v":1,"seq":{seq},"id":"{seq}-0","ts":1.0,"type":"job",'
        f'"data":{{"job":"j{seq}","queue":"q","from":null,"to":"waiting"}}}}'
    )


async def test_a_client_waiting_for_its_snapshot_is_not_dropped_however_much_flows() -> None:
    # Given a client with room for 2 frames, waiting for a snapshot slot
    registry = CollectorRegistry()
    clients = Clients(StreamMetrics(registry))
    client = Client("sse", frozenset({"jobs"}), None, 2)
    clients.add(client)
    client.awaiting_snapshot = True
    # When ten events go out meanwhile
    for seq in range(1, 11):
        clients.broadcast(from_published(job_frame(seq)))
    clients.flush()
    # Then none is queued (the snapshot covers them) and the client stays
    assert client.closed_reason is None and client.queue.empty()
    # And once its snapshot is being read, frames queue again, and overflow still drops it
    client.awaiting_snapshot = False
    for seq in range(11, 16):
        clients.broadcast(from_published(job_frame(seq)))
    clients.flush()
    assert client.closed_reason == "slow"
    # once, however many frames overflowed
    assert registry.get_sample_value("facequeue_stream_slow_client_drops_total") == 1


async def pair(sndbuf: int | None = None) -> tuple[asyncio.Transport, socket.socket]:
    """A real asyncio transport over a socket pair, and the raw peer that reads it."""
    ours, peer = socket.socketpair()
    if sndbuf is not None:
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, sndbuf)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, ours)
    assert isinstance(transport, asyncio.Transport)
    peer.setblocking(False)
    return transport, peer


def read_all(peer: socket.socket) -> bytes:
    data = b""
    while True:
        try:
            got = peer.recv(1 << 20)
        except BlockingIOError:
            return data
        if not got:
            return data
        data += got


async def test_live_clients_get_one_write_per_flush_in_order_and_queued_ones_their_queue() -> None:
    clients = Clients(StreamMetrics(CollectorRegistry()))
    transports = [await pair() for _ in range(3)]
    wires = [SSE_CHUNKED, SSE_PLAIN, WEBSOCKET]
    live = [Client("sse", frozenset({"jobs"}), None, 10) for _ in wires]
    queued = Client("sse", frozenset({"jobs"}), None, 10)
    other_topic = Client("sse", frozenset({"workers"}), None, 10)
    for client in (*live, queued, other_topic):
        clients.add(client)
    clients.broadcast(from_published(job_frame(1)))
    # Given three clients caught up at seq 1, on three wires
    for client, (transport, _), wire in zip(live, transports, wires, strict=True):
        assert clients.go_live(client, Socket(transport, wire), 1) is False  # seq 1 went to its queue
        client.queue.get_nowait()
        assert clients.go_live(client, Socket(transport, wire), 1) is True
    # A client whose snapshot is ahead of what the fan-out has seen stays queued
    assert clients.go_live(queued, Socket(transports[0][0], wires[0]), 5) is False
    queued.queue.get_nowait()
    # When two events go out in one turn of the loop
    frames = [from_published(job_frame(seq)) for seq in (2, 3)]
    for frame in frames:
        clients.broadcast(frame)
    await asyncio.sleep(0)  # the flush runs on the loop
    # Then each live client got both frames, in order, in its wire's encoding, in one write
    expected = b"".join(frame.sse for frame in frames)
    got = [read_all(peer) for _, peer in transports]
    assert got[0] == f"{len(expected):x}\r\n".encode() + expected + b"\r\n"
    assert got[1] == expected
    assert got[2] == b"".join(ws_text(frame.payload.encode()) for frame in frames)
    # And the queued client has them on its queue; the other topic's client nothing
    assert [queued.queue.get_nowait(), queued.queue.get_nowait()] == frames
    assert other_topic.queue.empty()
    # And a reset takes a live client back to its handler
    clients.offer(live[0], RESNAPSHOT)
    assert live[0].live is None and live[0].queue.get_nowait() == RESNAPSHOT
    for transport, peer in transports:
        transport.close()
        peer.close()


async def test_a_live_client_that_stops_reading_is_dropped_once_its_buffer_passes_the_limit() -> None:
    clients = Clients(StreamMetrics(CollectorRegistry()), max_buffered_bytes=32_768)
    (transport, peer), (fast_transport, fast_peer) = await pair(sndbuf=4096), await pair()
    stalled, reading = (Client("sse", frozenset({"jobs"}), None, 10) for _ in range(2))
    for client, t in ((stalled, transport), (reading, fast_transport)):
        clients.add(client)
        assert clients.go_live(client, Socket(t, SSE_PLAIN), 0)
    received = 0
    for seq in range(1, 2001):
        clients.broadcast(from_published(job_frame(seq)))
        clients.flush()
        received += read_all(fast_peer).count(b"event: job")
        if stalled.closed_reason:
            break
    # The stalled one is dropped as slow, long before 2,000 frames; the reader kept everything
    assert stalled.closed_reason == "slow" and stalled.live is None
    assert reading.closed_reason is None and received == seq
    assert 32_768 < transport.get_write_buffer_size() < 65_536
    for t, p in ((transport, peer), (fast_transport, fast_peer)):
        t.close()
        p.close()


def test_websocket_frames_carry_their_length_in_the_rfc_6455_forms() -> None:
    for size, header in (
        (5, b"\x81\x05"),
        (300, b"\x81\x7e\x01\x2c"),
        (70_000, b"\x81\x7f" + (70_000).to_bytes(8, "big")),
    ):
        payload = b"x" * size
        assert ws_text(payload) == header + payload


async def test_a_frame_queue_is_bounded_ordered_and_holds_nothing_once_drained() -> None:
    # Given a client's queue of two frames at most
    queue = FrameQueue(2)
    assert queue.empty() and queue.qsize() == 0
    # When a handler waits for a frame, one put wakes it
    waiting = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait("first")
    assert await waiting == "first"
    # Then frames come out in order, and a third one over the bound is refused
    queue.put_nowait("a")
    queue.put_nowait("b")
    with pytest.raises(asyncio.QueueFull):
        queue.put_nowait("c")
    assert [queue.get_nowait(), await queue.get()] == ["a", "b"]
    # and a drained queue keeps no deque (a live client's queue costs no memory)
    assert queue._items is None
    with pytest.raises(asyncio.QueueEmpty):
        queue.get_nowait()
