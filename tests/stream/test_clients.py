"""The clients' queues, without a socket: who gets a frame, and who is dropped as slow."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from services.stream.clients import Client, Clients
from services.stream.frames import from_published
from shared.metrics import StreamMetrics


def job_frame(seq: int) -> str:
    return (
        f'{{"v":1,"seq":{seq},"id":"{seq}-0","ts":1.0,"type":"job",'
        f'"data":{{"job":"j{seq}","queue":"q","from":null,"to":"waiting"}}}}'
    )


async def test_a_client_waiting_for_its_snapshot_is_not_dropped_however_much_flows() -> None:
    # Given a client with room for 2 frames, waiting for a snapshot slot
    clients = Clients(StreamMetrics(CollectorRegistry()))
    client = Client("sse", frozenset({"jobs"}), None, 2)
    clients.add(client)
    client.awaiting_snapshot = True
    # When ten events go out meanwhile
    for seq in range(1, 11):
        clients.broadcast(from_published(job_frame(seq)))
    # Then none is queued (the snapshot covers them) and the client stays
    assert client.closed_reason is None and client.queue.empty()
    # And once its snapshot is being read, frames queue again, and overflow still drops it
    client.awaiting_snapshot = False
    for seq in range(11, 14):
        clients.broadcast(from_published(job_frame(seq)))
    assert client.closed_reason == "slow"
