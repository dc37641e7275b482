"""No dashboard, alert or autoscaler refers to a metric that does not exist.

Every facequeue process runs for real (api, stream, monitor, a Dramatiq worker group), traffic
makes the labelled series appear, and every name the Grafana JSON, alerts.yml, the HPAs, the
KEDA ScaledObject and the prometheus-adapter rules select must be among the scraped samples.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from devstack.localredis import free_port
from shared.config import Settings
from tests.deploy.helpers import (
    ALERTS,
    K8S,
    OVERLAYS,
    SYNTHETIC,
    alert_rules,
    dashboard_exprs,
    load_dashboards,
    metric_names,
    of_kind,
    recorded_names,
    render,
    rules,
    sample_names,
    tool,
)
from tests.processes import ServiceProcess, WorkerGroup, launch, spawn, stop, wait_for
from tests.stream_client import read_events

ADMIN = {"Authorization": "Bearer test-admin-token-with-thirty-two-chars"}


def referenced() -> dict[str, set[str]]:
    """Metric name -> where it is used."""
    uses: dict[str, set[str]] = {}

    def add(exprs: list[str], where: str) -> None:
        for expr in exprs:
            for name in metric_names(expr):
                uses.setdefault(name, set()).add(where)

    for file, dashboard in load_dashboards().items():
        add(list(dashboard_exprs(dashboard)), f"grafana/{file}")
    add([rule["expr"] for rule in rules()], "prometheus/alerts.yml")
    adapter = yaml.safe_load((K8S / "prometheus-adapter" / "values.yaml").read_text())["rules"]
    add(
        [
            r[key]
            for kind in ("custom", "external")
            for r in adapter[kind]
            for key in ("seriesQuery", "metricsQuery")
        ],
        "k8s/prometheus-adapter",
    )
    for overlay in OVERLAYS:
        docs = render(overlay)
        for hpa in of_kind(docs, "HorizontalPodAutoscaler").values():
            for metric in hpa["spec"]["metrics"]:
                if metric["type"] in ("Pods", "External", "Object"):
                    source = metric[metric["type"].lower()]
                    uses.setdefault(source["metric"]["name"], set()).add(f"k8s/{overlay} HPA")
        for scaled in of_kind(docs, "ScaledObject").values():
            add([t["metadata"]["query"] for t in scaled["spec"]["triggers"]], f"k8s/{overlay} ScaledObject")
    # The recording rules' own series come from Prometheus; what they read is checked above.
    return {name: where for name, where in uses.items() if name not in recorded_names()}


def test_the_extractor_finds_the_metrics_and_nothing_else() -> None:
    # Given the real dashboards and alerts
    uses = referenced()
    # Then the names found are metrics, not functions, keywords, labels or variables
    assert {
        "facequeue_queue_jobs",
        "facequeue_stream_delivery_lag_seconds_bucket",
        "dramatiq_messages_total",
    } <= set(uses)
    assert not {"sum", "rate", "by", "queue", "le", "state", "__rate_interval", "datasource"} & set(uses)
    assert all(
        name.startswith(("facequeue_", "dramatiq_", "process_")) or name in SYNTHETIC for name in uses
    ), sorted(uses)
    # And each dashboard, the alerts and both autoscaler kinds contribute
    places = set().union(*uses.values())
    assert {"grafana/queue-overview.json", "grafana/workers.json", "grafana/streaming.json"} <= places
    assert {
        "prometheus/alerts.yml",
        "k8s/prod HPA",
        "k8s/prod-keda ScaledObject",
        "k8s/prometheus-adapter",
    } <= places


@dataclasses.dataclass
class Stack:
    settings: Settings
    api: ServiceProcess
    stream: ServiceProcess
    monitor: ServiceProcess
    worker: WorkerGroup

    def api_exposition_routes(self) -> set[str]:
        """Routes the api's request counter has counted at least once."""
        text = self.expositions()["api"]
        routes = set()
        for line in text.splitlines():
            if line.startswith("facequeue_api_requests_total{") and not line.endswith(" 0.0"):
                routes.add(line.split('route="', 1)[1].split('"', 1)[0])
        return routes

    def targets(self) -> dict[str, str]:
        return {
            "api": f"http://127.0.0.1:{self.settings.api_port}/metrics",
            "stream": f"http://127.0.0.1:{self.settings.stream_port}/metrics",
            "monitor": f"http://127.0.0.1:{self.monitor.settings.monitor_port}/metrics",
            "worker": f"http://127.0.0.1:{self.worker.settings.worker_metrics_port}/metrics",
        }

    def expositions(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for target, url in self.targets().items():
            with urllib.request.urlopen(url, timeout=5) as response:
                found[target] = response.read().decode()
        return found

    def scrape(self) -> dict[str, set[str]]:
        return {target: sample_names(text) for target, text in self.expositions().items()}


@pytest.fixture
def stack(
    settings: Settings,
    tmp_path: Path,
    start_worker: Callable[..., WorkerGroup],
    start_monitor: Callable[..., ServiceProcess],
) -> Iterator[Stack]:
    own = dataclasses.replace(settings, api_port=free_port(), stream_port=free_port())
    api = launch("api", own, own.api_port, tmp_path / "api.log")
    try:
        stream = launch("stream", own, own.stream_port, tmp_path / "stream.log")
        try:
            yield Stack(own, api, stream, start_monitor(), start_worker())
        finally:
            stream.stop()
    finally:
        api.stop()


def _job_states(api: str, jobs: list[str]) -> list[str]:
    states = []
    for job_id in jobs:
        request = urllib.request.Request(f"{api}/api/v1/jobs/{job_id}", headers=ADMIN)
        with urllib.request.urlopen(request, timeout=5) as response:
            states.append(str(json.loads(response.read())["state"]))
    return states


def _wait_for_none(missing: Callable[[], Collection[str]], timeout: float, what: str) -> Collection[str]:
    """The suite's ``wait_for`` until ``missing()`` is empty; what it last named (empty when all
    came within ``timeout``), for the test's own assertion to list."""
    last: list[Collection[str]] = []

    def none_missing() -> bool:
        last[:] = [missing()]
        return not last[0]

    with contextlib.suppress(AssertionError):
        wait_for(none_missing, timeout=timeout, interval=0.25, what=what)
    return last[-1]


async def _traffic(stack: Stack) -> None:
    """Jobs that complete, fail and retry; a pause; SSE and WebSocket clients; a resume."""
    api = f"http://127.0.0.1:{stack.settings.api_port}"
    gateway = f"http://127.0.0.1:{stack.settings.stream_port}"
    async with aiohttp.ClientSession(headers=ADMIN) as http:
        sse = await http.get(f"{gateway}/stream")
        assert sse.status == 200
        events = read_events(sse)
        snapshot = await asyncio.wait_for(anext(events), 10)
        ws = await http.ws_connect(f"{gateway}/ws")

        jobs = []
        for body in (
            {"actor": "noop"},
            {"actor": "noop"},
            {"actor": "fail", "args": ["boom"], "max_retries": 1},
        ):
            async with http.post(f"{api}/api/v1/jobs", json=body) as response:
                assert response.status == 201, await response.text()
                jobs.append((await response.json())["id"])
        for action in ("pause", "resume"):
            async with http.post(f"{api}/api/v1/queues/diagnostics/{action}") as response:
                assert response.status == 200, await response.text()

        want = ["completed", "completed", "failed"]
        await asyncio.to_thread(
            wait_for, lambda: _job_states(api, jobs) == want, 30, 0.1, "the jobs to finish"
        )

        # A dashboard that reconnects with Last-Event-ID gets the events it missed replayed.
        seq = int(snapshot.id or 0)
        async with http.get(f"{gateway}/stream", headers={"Last-Event-ID": str(seq)}) as resumed:
            assert resumed.status == 200
            await asyncio.wait_for(anext(read_events(resumed)), 10)
        await ws.close()
        sse.close()


async def test_every_metric_the_dashboards_alerts_and_autoscalers_use_is_exported(stack: Stack) -> None:
    # Given every process running and the names the deploy artefacts select
    uses = referenced()
    wanted = set(uses) - SYNTHETIC
    # When jobs, admin actions and stream clients have gone through the system
    await _traffic(stack)

    # Then every name is among the samples scraped from the four processes' /metrics
    def missing() -> set[str]:
        scraped: set[str] = set().union(*stack.scrape().values())
        return wanted - scraped

    absent = await asyncio.to_thread(_wait_for_none, missing, 20, "every referenced metric")
    assert not absent, {name: sorted(uses[name]) for name in sorted(absent)}
    # And each process contributes what only it exports
    scraped = stack.scrape()
    assert "facequeue_api_requests_total" in scraped["api"]
    assert "facequeue_stream_delivery_lag_seconds_bucket" in scraped["stream"]
    assert "facequeue_queue_jobs" in scraped["monitor"]
    assert {"dramatiq_messages_total", "facequeue_worker_job_transitions_total"} <= scraped["worker"]


#: What every process exports about itself, whatever it does.
RUNTIME = frozenset(
    {
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
        "python_info",
        "facequeue_build_info",
    }
)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _value(exposition: str, sample: str) -> float:
    """The value of one sample line, named with its labels exactly as exposed (``x`` or ``x{...}``)."""
    for line in exposition.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{sample} not exposed")


async def test_every_series_the_dashboards_and_alerts_use_is_there_before_any_traffic(stack: Stack) -> None:
    # Given the four processes just started, nobody having used them
    wanted = set(referenced()) - SYNTHETIC

    # When they are scraped (the monitor's gauges come with its first tick, within seconds; the
    # worker group's exposition server may still be starting)
    def missing() -> set[str]:
        try:
            return wanted - set().union(*stack.scrape().values())
        except urllib.error.URLError:
            return wanted

    absent = await asyncio.to_thread(_wait_for_none, missing, 15, "every referenced metric")
    # Then every name a panel, alert or autoscaler selects is already exported: zeros, not "No data"
    assert not absent, sorted(absent)


async def test_every_process_exports_its_runtime_and_build_and_the_api_ignores_probes(stack: Stack) -> None:
    # Given probes and scrapes hitting the api, and one real request
    wait_for(lambda: _answers(stack.targets()["worker"]), timeout=20, what="the worker's exposition")
    api = f"http://127.0.0.1:{stack.settings.api_port}"
    for path in ("/healthz", "/readyz", "/metrics") * 3:
        with urllib.request.urlopen(api + path, timeout=5) as response:
            assert response.status == 200
    request = urllib.request.Request(api + "/api/v1/stats", headers=ADMIN)
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
    expositions = stack.expositions()
    # Then every process exports process and Python figures and its build
    for target, text in expositions.items():
        assert sample_names(text) >= RUNTIME, (target, sorted(RUNTIME - sample_names(text)))
        assert _value(text, "process_resident_memory_bytes") > 1e6, target
        assert 'facequeue_build_info{revision="' in text, target
    # And the worker group's figures add up its live processes
    worker = expositions["worker"]
    processes = stack.worker.settings.worker_processes
    assert _value(worker, "facequeue_worker_processes") == processes
    assert processes == 1 or _value(worker, "process_resident_memory_bytes") > 2e7
    # And the api counted the real request, not the probes and scrapes
    counted = stack.api_exposition_routes()
    assert "/api/v1/stats" in counted
    assert not counted & {"/healthz", "/readyz", "/metrics"}


#: Grafana's variables as a user opening a dashboard on this stack gets them.
def _expand(expr: str, namespace: str) -> str:
    values = {
        "$__rate_interval": "5s",
        "$cluster": ".*",
        "$namespace": namespace,
        "$job": "facequeue-.+",
        "$instance": ".*",
        "$queue": ".*",
    }
    for variable, value in values.items():
        expr = expr.replace(variable, value)
    return expr


def _prometheus_api(base: str, path: str, **params: str) -> Any:
    query = urllib.parse.urlencode(params)
    with urllib.request.urlopen(f"{base}/api/v1/{path}?{query}", timeout=5) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", body
    return body["data"]


@pytest.fixture
def prometheus(stack: Stack, tmp_path: Path) -> Iterator[str]:
    """A real Prometheus scraping the stack every second, with alerts.yml loaded."""
    binary = tool("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (Debian package: prometheus)")
    jobs = [
        {
            "job_name": f"facequeue-{name}",
            "scrape_interval": "1s",
            "static_configs": [{"targets": [url.removeprefix("http://").removesuffix("/metrics")]}],
            "relabel_configs": [{"target_label": "namespace", "replacement": "live"}],
        }
        for name, url in stack.targets().items()
    ]
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ALERTS)],
        "scrape_configs": jobs,
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    process = spawn(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        tmp_path / "prometheus.log",
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process, timeout=10)


def test_a_real_prometheus_fills_every_panel_and_fires_nothing_on_a_healthy_fresh_stack(
    stack: Stack, prometheus: str
) -> None:
    # Given a real Prometheus scraping the four processes just started, before any traffic
    def targets_up() -> bool:
        try:
            active = _prometheus_api(prometheus, "targets")["activeTargets"]
        except OSError:
            return False
        return len(active) == 4 and all(t["health"] == "up" for t in active)

    wait_for(targets_up, timeout=30, interval=0.25, what="every target up")

    # When a few scrapes have happened (rates need two samples)
    def empty_panels() -> list[str]:
        empty = []
        for file, dashboard in load_dashboards().items():
            for panel in dashboard["panels"]:
                for target in panel["targets"]:
                    expr = _expand(target["expr"], "live")
                    if not _prometheus_api(prometheus, "query", query=expr)["result"]:
                        empty.append(f"{file}: {panel['title']}: {target['expr']}")
        return empty

    empty = _wait_for_none(empty_panels, 30, "every panel's data")
    # Then every query of every panel returns data for the namespace: zeros, not "No data"
    assert not empty, empty
    # And another namespace's view is empty: the dashboards do not mix environments
    some = _expand(next(iter(load_dashboards().values()))["panels"][0]["targets"][0]["expr"], "elsewhere")
    assert not _prometheus_api(prometheus, "query", query=some)["result"]
    # And the rules loaded, and on a healthy stack no alert is pending or firing
    groups = _prometheus_api(prometheus, "rules")["groups"]
    assert {rule.get("name") for g in groups for rule in g["rules"]} >= {r["alert"] for r in alert_rules()}
    assert all(rule.get("health") == "ok" for g in groups for rule in g["rules"]), groups
    assert _prometheus_api(prometheus, "alerts")["alerts"] == []
