"""The one Redis factory: timeouts on every client, Sentinel failover followed, WAIT (issue 17)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import redis

from devstack import localredis
from shared import actions, errors, keys, redis_clients
from shared.config import Settings, SettingsError
from shared.metrics import ReplicationMetrics
from shared.registry import AsyncRegistry, Registry, durability
from shared.scripts import Lua
from shared.submit import submit_call
from tests.processes import ROOT, stop, wait_for
from tests.sentinels import SERVICE, SentinelGroup, sentinel_group  # noqa: F401 (fixture: group)


def master_address(registry: Registry) -> Any:
    """The (host, port) the registry's Sentinel-managed pool currently writes to."""
    return cast(redis.sentinel.SentinelConnectionPool, registry.client.connection_pool).get_master_address()


@pytest.fixture
def replicated(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A primary with one replica (no Sentinels): the URL of the primary, and the replica."""
    primary, url = localredis.start(tmp_path / "p")
    port = url.rsplit(":", 1)[1].split("/")[0]
    replica, replica_url = localredis.start(tmp_path / "r", extra_args=("--replicaof", "127.0.0.1", port))
    with redis.Redis.from_url(replica_url) as r:
        wait_for(lambda: r.info("replication").get("master_link_status") == "up", what="replica sync")
    yield url, replica
    for proc in (replica, primary):
        stop(proc, timeout=10)


def sentinel_settings(group: SentinelGroup, **overrides: object) -> Settings:
    return Settings(
        redis_url="redis://ignored-host:1/0",
        redis_sentinels=group.addresses,
        redis_sentinel_service=SERVICE,
        **overrides,  # type: ignore[arg-type]
    )


def test_no_module_but_the_factory_opens_redis_from_a_url() -> None:
    # Given every module of the processes, When we look for from_url, Then only the factory has it
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("shared", "services", "facequeue")
        for path in (ROOT / folder).rglob("*.py")
        if "from_url(" in path.read_text() and path.name != "redis_clients.py"
    ]
    assert offenders == []


@pytest.mark.parametrize(
    ("value", "ok"),
    [("127.0.0.1:26379", True), ("sentinel-0.sentinel:26379", True), ("host", False), ("host:0", False)],
)
def test_a_bad_sentinel_address_names_its_variable(value: str, ok: bool) -> None:
    if ok:
        assert Settings.from_env({"FQ_REDIS_SENTINELS": value}).redis_sentinels == (value,)
    else:
        with pytest.raises(SettingsError, match="FQ_REDIS_SENTINELS"):
            Settings.from_env({"FQ_REDIS_SENTINELS": value})


def test_a_socket_timeout_below_the_wake_wait_is_refused() -> None:
    with pytest.raises(SettingsError, match="REDIS_SOCKET_TIMEOUT_S"):
        Settings(redis_socket_timeout_s=0.1, worker_idle_poll_ms=200).validate()


def test_a_server_that_stops_answering_fails_within_the_socket_timeout() -> None:
    # Given a "Redis" that accepts connections and never answers (a half-open peer)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    settings = Settings(redis_url=f"redis://127.0.0.1:{port}/0", redis_socket_timeout_s=0.5, redis_retries=0)
    client = redis_clients.sync_client(settings)
    try:
        # When a command is sent, Then the socket timeout ends it (a read timeout, not a hang: a
        # hang would never return), and not before that timeout (a lower bound cannot flake on a
        # busy machine, an upper one can)
        began = time.monotonic()
        with pytest.raises(redis.TimeoutError, match=r"[Tt]imeout reading"):
            client.get("x")
        assert time.monotonic() - began >= 0.9 * settings.redis_socket_timeout_s
        # And the connection keeps TCP keepalive on
        assert client.connection_pool.connection_kwargs["socket_keepalive"] is True
        assert client.connection_pool.connection_kwargs["health_check_interval"] == 15
    finally:
        client.close()
        stop.set()
        thread.join()
        for s in held:
            s.close()
        listener.close()


def test_sync_and_async_registries_follow_a_sentinel_failover(group: SentinelGroup) -> None:
    # Given registries built from Sentinel settings, writing to the primary Sentinel names
    settings = sentinel_settings(group)
    registry = Registry(settings)
    registry.run(submit_call("noop", [], settings=settings, job_id="before")[1])
    assert master_address(registry)[1] == group.primary_port

    async def submit_async(job_id: str) -> str:
        areg = AsyncRegistry(settings)
        try:
            await areg.run(submit_call("noop", [], settings=settings, job_id=job_id)[1])
            return (await areg.get(job_id)).state.value
        finally:
            await areg.close()

    assert asyncio.run(submit_async("async-before")) == "waiting"
    # (both acknowledged by the replica: replication is asynchronous, and a loaded machine can
    # kill the primary before it sent them, which is the data loss FQ_REDIS_MIN_REPLICAS_ACK bounds)
    assert int(registry.client.execute_command("WAIT", 1, 10_000)) == 1
    try:
        # When the primary dies and Sentinel promotes the replica
        group.kill_primary()
        # Then the same client's next write rides its retries to the new primary (within the retry
        # policy's attempts, which bound the time: past them the write raises)
        registry.run(submit_call("noop", [], settings=settings, job_id="after")[1])
        assert master_address(registry)[1] == group.replica_port
        assert registry.get("after").state.value == "waiting"
        assert registry.get("before").state.value == "waiting"  # replicated before the kill
        # And a new async client finds the new primary too
        assert asyncio.run(submit_async("async-after")) == "waiting"
    finally:
        registry.close()


def test_the_broker_in_sentinel_mode_uses_a_sentinel_client(group: SentinelGroup) -> None:
    from services.worker.broker import FacequeueBroker

    # Given a broker built from Sentinel settings (no url, no client)
    broker = FacequeueBroker(settings=sentinel_settings(group), middleware=[])
    try:
        # Then Dramatiq's client and the registry's both ask Sentinel for the primary
        assert isinstance(broker.client.connection_pool, redis.sentinel.SentinelConnectionPool)
        assert isinstance(broker.ctx.registry.client.connection_pool, redis.sentinel.SentinelConnectionPool)
        broker.client.rpush("dramatiq:probe", "x")
        with redis.Redis(port=group.primary_port) as primary:
            assert primary.lrange("dramatiq:probe", 0, -1) == [b"x"]
    finally:
        broker.client.close()
        broker.ctx.registry.close()


def test_a_broker_given_an_apps_own_sentinel_client_reads_the_registry_through_sentinel(
    group: SentinelGroup,
) -> None:
    from services.worker.broker import FacequeueBroker

    # Given a Dramatiq app's own client, as it would pass it to RedisBroker(client=...)
    sentinel = redis.sentinel.Sentinel([("127.0.0.1", p) for p in group.sentinel_ports])
    client = sentinel.master_for(SERVICE)
    broker = FacequeueBroker(client=client, settings=Settings(), middleware=[])
    try:
        # Then the registry decodes replies from the same Sentinel-managed primary
        registry = broker.ctx.registry
        assert isinstance(registry.client.connection_pool, redis.sentinel.SentinelConnectionPool)
        registry.run(submit_call("noop", [], settings=registry.settings, job_id="app")[1])
        assert registry.get("app").state.value == "waiting"
        assert client.hget("fq:job:app", "state") == b"waiting"
    finally:
        broker.ctx.registry.close()
        client.close()
        sentinel.close()


def test_a_submission_no_replica_confirms_is_refused_and_counted(
    replicated: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, _ = replicated
    # Given min-replicas-ack 1 with one live replica: submissions pass
    settings = Settings(redis_url=url, redis_min_replicas_ack=1, redis_wait_timeout_ms=300)
    metrics = ReplicationMetrics()
    registry = Registry(settings, policy=durability(settings, metrics, strict=frozenset({Lua.JOB_SUBMIT})))
    try:
        registry.run(submit_call("noop", [], settings=settings, job_id="one")[1])
        # When two replicas are required but only one exists
        strict = Settings(redis_url=url, redis_min_replicas_ack=2, redis_wait_timeout_ms=300)
        registry.scripts.durability = durability(strict, metrics, strict=frozenset({Lua.JOB_SUBMIT}))
        began = time.monotonic()
        # Then a submission waits the timeout and is reported as not replicated
        with pytest.raises(errors.NotReplicated):
            registry.run(submit_call("noop", [], settings=settings, job_id="two")[1])
        assert time.monotonic() - began >= 0.25
        # And a non-strict durable change (an admin pause) is made and only counted
        registry.run(actions.pause("diagnostics", who="test"))
        assert registry.client.sismember(keys.PAUSED, "diagnostics")
        counted = {
            s.labels["script"]: s.value
            for s in next(iter(metrics.wait_timeouts.collect())).samples
            if s.name.endswith("_total")
        }
        assert counted == {"job_submit": 1.0, "queue_pause": 1.0}
        # And a refused script waits for nothing (its error is the answer)
        with pytest.raises(errors.JobExists):
            registry.run(submit_call("noop", [], settings=settings, job_id="one")[1])
    finally:
        registry.close()


def test_without_replicas_ack_scripts_send_no_wait(replicated: tuple[str, subprocess.Popen[bytes]]) -> None:
    url, _ = replicated
    registry = Registry(Settings(redis_url=url))
    try:
        before = int(registry.client.info("commandstats").get("cmdstat_wait", {}).get("calls", 0))
        registry.run(submit_call("noop", [], settings=registry.settings, job_id="x")[1])
        after = int(registry.client.info("commandstats").get("cmdstat_wait", {}).get("calls", 0))
        assert before == after == 0
    finally:
        registry.close()


@pytest.mark.parametrize(
    ("settings", "shown"),
    [
        (Settings(redis_url="redis://:hunter2@db.internal:6380/3"), "redis://db.internal:6380/3"),
        (Settings(redis_sentinels=("s1:26379", "s2:26379")), "sentinel:facequeue@s1:26379,s2:26379"),
    ],
)
def test_where_a_process_connects_is_logged_without_its_password(settings: Settings, shown: str) -> None:
    assert redis_clients.describe(settings) == shown


def test_a_submission_whose_retry_finds_its_own_job_stands(
    replicated: tuple[str, subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared import submit as submitting

    url, _ = replicated
    registry = Registry(Settings(redis_url=url))
    try:
        # Given the job a first attempt made before its reply was lost (a failover mid-reply)
        registry.run(submit_call("noop", [], settings=registry.settings, job_id="landed")[1])
        # When the client's retry sends the same submission, with the id made for it
        monkeypatch.setattr(submitting, "new_job_id", lambda: "landed")
        # Then it is answered as made, not as a conflict, and there is one job
        assert submitting.submit(registry, "noop") == "landed"
        assert registry.counts(["diagnostics"])["diagnostics"]["waiting"] == 1
    finally:
        registry.close()
