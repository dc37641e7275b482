"""Alerts, recording rules and dashboards tell environments apart, and every alert has a runbook.

One Prometheus often watches several namespaces (dev and prod) or clusters: an expression that
aggregates without ``by (cluster, namespace)`` lets a healthy environment hide a broken one.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.helpers import ALERTS, DEPLOY, alert_rules, dashboard_exprs, load_dashboards, rules, tool

RUNBOOKS = DEPLOY / "runbooks"
#: What every dashboard query selects on besides its own labels.
SCOPE = ('cluster=~"$cluster"', 'namespace=~"$namespace"', 'job=~"$job"', 'instance=~"$instance"')
#: An aggregation and its optional grouping, before or after its argument's opening parenthesis.
_AGGREGATION = re.compile(
    r"\b(sum|max|min|avg|count|group|topk|bottomk|quantile)\s*(?:(by|without)\s*\(([^)]*)\))?\s*\("
)
_SELECTOR = re.compile(r"(?<![\w:$.\"])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^{}]*\})?")
_FUNCTIONS_AND_WORDS = frozenset(
    {"and", "or", "unless", "bool", "by", "without", "on", "ignoring", "group_left", "group_right", "offset"}
)


def ungrouped(expr: str) -> list[str]:
    """Aggregations in ``expr`` that do not keep both ``cluster`` and ``namespace``."""
    found = []
    for match in _AGGREGATION.finditer(expr):
        labels = {label.strip() for label in (match.group(3) or "").split(",")}
        if match.group(2) != "by" or not {"cluster", "namespace"} <= labels:
            found.append(match.group(0))
    return found


def unscoped_selectors(expr: str) -> list[str]:
    """Series selectors in a dashboard query that miss one of the scope variables."""
    text = re.sub(r"\[[^\]]*\]", "", expr)
    text = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)", "", text)
    missing = []
    for match in _SELECTOR.finditer(text):
        name, matchers = match.group(1), match.group(2)
        following = text[match.end() :].lstrip()
        if name in _FUNCTIONS_AND_WORDS or (following.startswith("(") and not matchers):
            continue
        if re.fullmatch(r"[0-9.e+-]+|Inf|NaN", name):
            continue
        if not matchers or not all(scope in matchers for scope in SCOPE):
            missing.append(match.group(0))
    return missing


@pytest.mark.parametrize(
    ("expr", "bad"),
    [
        ("sum(up)", True),
        ("max by (queue) (facequeue_queue_jobs)", True),
        ("sum by (namespace, queue) (x)", True),
        ("sum by (cluster, namespace, queue) (x)", False),
        ("histogram_quantile(0.9, sum by (cluster, namespace, le) (rate(x[5m])))", False),
        ("max without (instance) (x)", True),
    ],
)
def test_the_grouping_check_tells_scoped_from_unscoped_aggregations(expr: str, bad: bool) -> None:
    assert bool(ungrouped(expr)) is bad


def test_the_selector_check_finds_a_selector_without_the_scope() -> None:
    scoped = "{" + ", ".join(SCOPE) + "}"
    assert unscoped_selectors(f"sum by (cluster, namespace) (rate(x{scoped}[5m]))") == []
    assert unscoped_selectors(f"x{scoped} / y") == ["y"]
    assert unscoped_selectors('x{namespace=~"$namespace"}') != []


def test_every_rule_aggregates_by_cluster_and_namespace() -> None:
    for rule in rules():
        assert not ungrouped(rule["expr"]), (rule.get("alert") or rule.get("record"), ungrouped(rule["expr"]))


def test_every_dashboard_query_is_scoped_and_grouped_by_environment() -> None:
    for name, dashboard in load_dashboards().items():
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                expr = target["expr"]
                assert not unscoped_selectors(expr), (name, panel["title"], unscoped_selectors(expr))
                assert not ungrouped(expr), (name, panel["title"], ungrouped(expr))


def _variables(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in dashboard["templating"]["list"]}


def test_dashboards_have_cluster_namespace_job_and_instance_variables_chained_in_order() -> None:
    for name, dashboard in load_dashboards().items():
        variables = _variables(dashboard)
        order = [v["name"] for v in dashboard["templating"]["list"]]
        assert order[:5] == ["datasource", "cluster", "namespace", "job", "instance"], name
        # One environment at a time: a namespace is picked, never "All".
        assert not variables["namespace"]["includeAll"] and not variables["namespace"]["multi"]
        assert variables["job"]["allValue"] == "facequeue-.+"
        queries = {n: v["query"]["query"] for n, v in variables.items() if v["type"] == "query"}
        assert '$cluster"' in queries["namespace"]
        assert all(f'{s}=~"${s}"' in queries["instance"] for s in ("cluster", "namespace", "job"))
        for expr in dashboard_exprs(dashboard):
            assert (
                "label_values(" not in expr
                or "$namespace" in expr
                or expr.endswith((", cluster)", ", namespace)"))
            ), expr


def test_alerts_name_their_environment_in_the_summary() -> None:
    for rule in alert_rules():
        assert "$labels.namespace" in rule["annotations"]["summary"], rule["alert"]


def test_every_alert_links_a_runbook_that_says_what_to_check_and_do() -> None:
    alerts = {rule["alert"]: rule for rule in alert_rules()}
    for alert, rule in alerts.items():
        url = rule["annotations"]["runbook_url"]
        assert url.startswith("https://") and url.endswith(f"/deploy/runbooks/{alert}.md"), url
        page = (RUNBOOKS / f"{alert}.md").read_text()
        assert page.startswith(f"# {alert}\n")
        for section in ("## What it means", "## Check", "## Do"):
            body = page.split(section, 1)[1].split("\n## ", 1)[0]
            assert len(body.strip()) > 40, (alert, section)
    pages = {p.stem for p in RUNBOOKS.glob("*.md")} - {"README"}
    assert pages == set(alerts)


def _promtool() -> str:
    found = tool("promtool")
    if found is None:
        pytest.skip("promtool is not installed (Debian package: prometheus)")
    return found


def test_the_two_namespace_tests_fail_on_rules_that_ignore_the_namespace(tmp_path: Path) -> None:
    # Given alerts.yml with the worker alert aggregated over every environment, as it once was
    shutil.copy(DEPLOY / "prometheus" / "alerts_test.yml", tmp_path)
    text = ALERTS.read_text()
    scoped = 'max by (cluster, namespace) (facequeue_workers{status="alive"})'
    assert scoped in text
    (tmp_path / "alerts.yml").write_text(text.replace(scoped, 'max(facequeue_workers{status="alive"})'))
    # When promtool runs the unit tests against it
    done = subprocess.run(
        [_promtool(), "test", "rules", "alerts_test.yml"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    # Then they fail: dev's live worker hides prod's dead fleet
    assert done.returncode != 0
    assert "FacequeueNoWorkersAlive" in done.stdout + done.stderr


def test_compose_prometheus_labels_every_facequeue_target_with_an_environment() -> None:
    jobs = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())["scrape_configs"]
    facequeue = [job for job in jobs if job["job_name"].startswith("facequeue-")]
    assert len(facequeue) == 4
    for job in facequeue:
        assert {"target_label": "namespace", "replacement": "compose"} in job["relabel_configs"]


def test_the_panels_and_dashboards_runbooks_name_exist() -> None:
    dashboards = load_dashboards().values()
    titles = {panel["title"] for d in dashboards for panel in d["panels"]}
    titles |= {d["title"].removeprefix("facequeue / ") for d in dashboards}
    titles |= {"Targets"}  # Prometheus' own page
    for page in RUNBOOKS.glob("Facequeue*.md"):
        named = set(re.findall(r"\*([A-Z][^*]*)\*", page.read_text()))
        assert named <= titles, (page.name, sorted(named - titles))


def test_the_api_calls_runbooks_suggest_are_routes_of_the_api() -> None:
    from services.api.main import build_app
    from shared.config import Settings

    app = build_app(Settings())
    routes = {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource is not None}
    for page in RUNBOOKS.glob("Facequeue*.md"):
        for method, path in re.findall(
            r"\b(GET|POST|PUT|DELETE|PATCH) (/api/v1/[^`\s,)]*)", page.read_text()
        ):
            assert (method, path) in routes, (page.name, method, path)
