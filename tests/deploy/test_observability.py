"""Prometheus configuration, alert rules and Grafana dashboards: they parse, and they cover the issue."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.helpers import (
    ALERTS,
    DEPLOY,
    K8S,
    alert_rules,
    dashboard_exprs,
    load_dashboards,
    of_kind,
    render,
    tool,
)

PROMETHEUS = DEPLOY / "prometheus"

#: Grafana variables and prometheus-adapter templates, replaced by what they expand to.
EXPANSIONS = {
    "$__rate_interval": "1m",
    "$queue": ".*",
    "$cluster": ".*",
    "$namespace": "facequeue",
    "$job": "facequeue-.+",
    "$instance": ".*",
    "<<.Series>>": "facequeue_queue_jobs",
    "<<.LabelMatchers>>": 'state="waiting"',
    "<<.GroupBy>>": "pod",
}


def promtool() -> str:
    found = tool("promtool")
    if found is None:
        pytest.skip("promtool is not installed (Debian package: prometheus)")
    return found


def run_promtool(*args: str, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, cwd=cwd, timeout=60)


def test_prometheus_config_and_alert_rules_pass_promtool() -> None:
    done = run_promtool("check", "config", "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout and "alerts.yml" in done.stdout


def test_each_alert_fires_on_its_situation_in_promtool_unit_tests() -> None:
    done = run_promtool("test", "rules", "alerts_test.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    tested = set(re.findall(r"alertname: (\w+)", (PROMETHEUS / "alerts_test.yml").read_text()))
    assert tested == {rule["alert"] for rule in alert_rules()}


def test_every_dashboard_and_autoscaler_expression_parses(tmp_path: Path) -> None:
    # Given every PromQL expression outside alerts.yml, as recording rules promtool can check
    exprs = [
        e for d in load_dashboards().values() for e in dashboard_exprs(d) if not e.startswith("label_values")
    ]
    keda = of_kind(render("prod-keda"), "ScaledObject")["facequeue-worker"]
    exprs += [t["metadata"]["query"] for t in keda["spec"]["triggers"]]
    adapter = yaml.safe_load((K8S / "prometheus-adapter" / "values.yaml").read_text())["rules"]
    exprs += [
        r[k]
        for kind in ("custom", "external")
        for r in adapter[kind]
        for k in ("seriesQuery", "metricsQuery")
    ]
    for placeholder, value in EXPANSIONS.items():
        exprs = [e.replace(placeholder, value) for e in exprs]
    rules = {
        "groups": [
            {"name": "parse", "rules": [{"record": f"check:{i}", "expr": e} for i, e in enumerate(exprs)]}
        ]
    }
    (tmp_path / "parse.yml").write_text(yaml.safe_dump(rules))
    # Then promtool parses them all
    done = run_promtool("check", "rules", "parse.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in done.stdout
    assert len(exprs) > 40


def test_a_broken_expression_fails_the_parse_check(tmp_path: Path) -> None:
    rules = {"groups": [{"name": "parse", "rules": [{"record": "check:0", "expr": "sum by (queue (x)"}]}]}
    (tmp_path / "parse.yml").write_text(yaml.safe_dump(rules))
    assert run_promtool("check", "rules", "parse.yml", cwd=tmp_path).returncode != 0


def test_the_alerts_the_issue_asks_for_exist() -> None:
    rules = {rule["alert"]: rule for rule in alert_rules()}
    assert {
        "FacequeueNoWorkersAlive",
        "FacequeueBacklogGrowing",
        "FacequeueTimeToDrainHigh",
        "FacequeueFailureRatioHigh",
        "FacequeueOldestWaitingJobTooOld",
        "FacequeueStreamGatewayDown",
        "FacequeueStreamDeliveryLagHigh",
        "FacequeueRedisUnreachable",
        "FacequeueApiDown",
        "FacequeueApiErrorRatioHigh",
        "FacequeueApiLatencyHigh",
    } <= set(rules)
    for rule in rules.values():
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_alert_job_names_are_the_scrape_jobs_of_compose_and_kubernetes() -> None:
    used = set(re.findall(r'job="([^"]+)"', ALERTS.read_text()))
    assert used == {"facequeue-stream", "facequeue-monitor", "facequeue-api"}
    compose_jobs = {
        job["job_name"]
        for job in yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())["scrape_configs"]
    }
    assert used <= compose_jobs
    # The ServiceMonitor/PodMonitor take `job` from the pods' facequeue.io/job label.
    docs = render("prod")
    assert of_kind(docs, "ServiceMonitor")["facequeue"]["spec"]["jobLabel"] == "facequeue.io/job"
    k8s_jobs = {
        d["spec"]["template"]["metadata"]["labels"]["facequeue.io/job"]
        for d in of_kind(docs, "Deployment").values()
    }
    services = {s["metadata"]["labels"].get("facequeue.io/job") for s in of_kind(docs, "Service").values()}
    assert used <= k8s_jobs and used <= services
    assert {f"facequeue-{c}" for c in ("api", "stream", "monitor", "worker")} == k8s_jobs <= compose_jobs


PANELS = {
    "facequeue-queues": [
        "Jobs by state",
        "Throughput",
        "Failure ratio",
        "Time to drain",
        "Oldest waiting job",
        "API availability",
        "API latency p50 / p99",
        "API latency p99 by route",
    ],
    "facequeue-workers": ["Workers alive", "Busy slots", "Throughput per worker pod"],
    "facequeue-streaming": [
        "Connected clients",
        "Events/s received by type",
        "Delivery lag p50 / p99",
        "Resumes by result",
        "Slow-client drops",
    ],
}


def _datasources(node: Any) -> list[Any]:
    if isinstance(node, dict):
        found = [node["datasource"]] if "datasource" in node else []
        return found + [d for k, v in node.items() if k != "datasource" for d in _datasources(v)]
    if isinstance(node, list):
        return [d for item in node for d in _datasources(item)]
    return []


def test_dashboards_have_fixed_uids_a_datasource_variable_and_the_panels_the_issue_lists() -> None:
    dashboards = {d["uid"]: d for d in load_dashboards().values()}
    assert set(dashboards) == set(PANELS)
    for uid, dashboard in dashboards.items():
        text = str(dashboard)
        assert "DS_" not in text and "__inputs" not in dashboard  # import placeholders break provisioning
        (variable,) = [v for v in dashboard["templating"]["list"] if v["name"] == "datasource"]
        assert variable["type"] == "datasource" and variable["query"] == "prometheus"
        assert all(
            d == {"type": "prometheus", "uid": "${datasource}"} for d in _datasources(dashboard["panels"])
        )
        titles = [p["title"] for p in dashboard["panels"]]
        assert len(set(titles)) == len(titles)
        for wanted in PANELS[uid]:
            assert wanted in titles, (uid, wanted)
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(set(ids)) == len(ids)
        for panel in dashboard["panels"]:
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24 and panel["targets"] and panel["description"]


def test_grafana_provisions_the_prometheus_datasource_and_the_dashboard_folder() -> None:
    provisioning = DEPLOY / "grafana" / "provisioning"
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert (
        source["type"] == "prometheus" and source["url"] == "http://prometheus:9090" and source["isDefault"]
    )
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "facequeue.yml").read_text())["providers"]
    assert provider["type"] == "file" and provider["options"]["path"] == "/etc/grafana/dashboards/facequeue"
