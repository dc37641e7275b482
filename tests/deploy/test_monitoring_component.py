"""The kube-prometheus-stack component, autoscaling floors and termination budgets of the overlays."""

from __future__ import annotations

import importlib.util
import inspect
import json
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from aiohttp import web_runner

from tests.deploy.helpers import ALERTS, DASHBOARDS, K8S, ROOT, of_kind, render, tool

COMPONENT = K8S / "components" / "monitoring"
#: The label kube-prometheus-stack's Prometheus selects monitors and rules by (its Helm release).
SELECTOR = ("release", "kube-prometheus-stack")


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("facequeue_monitoring_generate", COMPONENT / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generated_rule_and_dashboards_are_current_with_their_sources() -> None:
    # Whoever edits alerts.yml or a dashboard without running generate.py fails here.
    for name, text in generator().render().items():
        assert (COMPONENT / name).read_text() == text, f"run python {COMPONENT / 'generate.py'}"


@pytest.mark.parametrize("overlay", ["prod", "prod-keda"])
def test_prod_ships_the_prometheus_rule_and_dashboards_with_the_selector_label(overlay: str) -> None:
    docs = render(overlay)
    rule = of_kind(docs, "PrometheusRule")["facequeue"]
    assert rule["metadata"]["namespace"] == "facequeue"
    assert rule["spec"]["groups"] == yaml.safe_load(ALERTS.read_text())["groups"]
    for kind in ("ServiceMonitor", "PodMonitor", "PrometheusRule"):
        for doc in of_kind(docs, kind).values():
            key, value = SELECTOR
            assert doc["metadata"]["labels"][key] == value, (kind, doc["metadata"]["name"])
    dashboards = of_kind(docs, "ConfigMap")["facequeue-dashboards"]
    assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert set(dashboards["data"]) == {path.name for path in DASHBOARDS}
    for path in DASHBOARDS:
        assert json.loads(dashboards["data"][path.name]) == json.loads(path.read_text())
    # kubectl apply keeps the whole object in an annotation limited to 256 KiB.
    assert len(json.dumps(dashboards)) < 200 * 1024


def test_the_prometheus_rule_passes_promtool(tmp_path: Path) -> None:
    promtool = tool("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package: prometheus)")
    spec = yaml.safe_load((COMPONENT / "prometheusrule.yaml").read_text())["spec"]
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(spec))
    done = subprocess.run(
        [promtool, "check", "rules", "rules.yml"], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    alerts = sum(1 for g in spec["groups"] for r in g["rules"] if "alert" in r)
    assert alerts >= 14


def test_runbook_links_can_point_at_where_the_repository_is_browsable() -> None:
    module = generator()
    rule = module.prometheus_rule("https://git.example.org/ops/facequeue/-/blob/main/")
    urls = [
        r["annotations"]["runbook_url"] for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r
    ]
    assert urls and all(
        u.startswith("https://git.example.org/ops/facequeue/-/blob/main/deploy/runbooks/Facequeue")
        for u in urls
    )
    for url in urls:
        assert (ROOT / url.split("/-/blob/main/", 1)[1]).is_file(), url


def _prod_worker_floor(docs: list[dict[str, Any]]) -> int:
    return int(of_kind(docs, "HorizontalPodAutoscaler")["facequeue-worker"]["spec"]["minReplicas"])


def test_keda_keeps_the_prod_worker_floor_and_never_scales_to_zero() -> None:
    floor = _prod_worker_floor(render("prod"))
    scaled = of_kind(render("prod-keda"), "ScaledObject")["facequeue-worker"]["spec"]
    assert floor == 4
    assert scaled["minReplicaCount"] == floor
    assert (
        scaled["maxReplicaCount"]
        == of_kind(render("prod"), "HorizontalPodAutoscaler")["facequeue-worker"]["spec"]["maxReplicas"]
    )
    # cooldownPeriod acts only on the way to zero; the pace down to the floor is the HPA's.
    down = scaled["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]
    assert down["stabilizationWindowSeconds"] >= 300


@pytest.mark.parametrize("overlay", ["dev", "prod", "prod-keda"])
def test_the_api_outlives_its_pre_stop_and_shutdown_timeout(overlay: str) -> None:
    pod = of_kind(render(overlay), "Deployment")["facequeue-api"]["spec"]["template"]["spec"]
    prestop_s = float(pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][1])
    # services/api serves through shared.http.serve with aiohttp's default shutdown timeout.
    shutdown_s = inspect.signature(web_runner.BaseRunner.__init__).parameters["shutdown_timeout"].default
    assert "shutdown_timeout" not in (ROOT / "services" / "api" / "main.py").read_text()
    assert pod["terminationGracePeriodSeconds"] >= prestop_s + shutdown_s
