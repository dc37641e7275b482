"""No operational path is public, and the prod overlay's NetworkPolicies let through only what runs.

The Ingress rules are matched the way Kubernetes defines ``Exact`` and ``Prefix`` paths, against
the routes the real api and stream applications register; the NetworkPolicies are evaluated the
way the API server defines them, on the rendered prod overlay.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from aiohttp import web

from services.api.main import build_app as build_api
from services.stream.main import build_app as build_stream
from shared.config import Settings
from tests.deploy.helpers import OVERLAYS, of_kind, render

#: Paths only Prometheus and the kubelet may use.
OPS_PATHS = ("/metrics", "/healthz", "/readyz")


def path_matches(rule: dict[str, Any], path: str) -> bool:
    """Kubernetes Ingress path semantics: Exact is equality, Prefix matches whole path elements."""
    wanted = rule["path"]
    if rule["pathType"] == "Exact":
        return bool(path == wanted)
    prefix = wanted.rstrip("/")
    return prefix == "" or path == prefix or path.startswith(prefix + "/")


def ingress_backend(docs: list[dict[str, Any]], path: str) -> str | None:
    """The Service an Ingress of ``docs`` sends ``path`` to, or None (the controller's 404)."""
    for ingress in of_kind(docs, "Ingress").values():
        for rule in ingress["spec"]["rules"]:
            for candidate in rule["http"]["paths"]:
                if path_matches(candidate, path):
                    return str(candidate["backend"]["service"]["name"])
    return None


def concrete(path: str) -> str:
    """A request path a route template answers (``{job_id}`` -> ``x``, static prefix -> a file)."""
    parts = ["x" if part.startswith("{") else part for part in path.split("/")]
    return "/".join(parts)


def routes(app: web.Application) -> set[str]:
    found = set()
    for resource in app.router.resources():
        canonical = resource.canonical
        found.add(concrete(canonical) + ("/app.css" if isinstance(resource, web.StaticResource) else ""))
    return found


@pytest.fixture(scope="module")
def app_routes() -> dict[str, set[str]]:
    settings = Settings()
    return {"facequeue-api": routes(build_api(settings)), "facequeue-stream": routes(build_stream(settings))}


def test_the_path_matcher_follows_kubernetes_semantics() -> None:
    prefix = {"path": "/api", "pathType": "Prefix"}
    assert path_matches(prefix, "/api") and path_matches(prefix, "/api/v1/jobs")
    assert not path_matches(prefix, "/apix")
    assert path_matches({"path": "/", "pathType": "Prefix"}, "/metrics")
    assert not path_matches({"path": "/", "pathType": "Exact"}, "/metrics")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_public_route_is_routed_and_no_operational_path_is(
    overlay: str, app_routes: dict[str, set[str]]
) -> None:
    docs = render(overlay)
    for service, paths in app_routes.items():
        assert set(OPS_PATHS) <= paths  # the apps do serve them, on their own port
        for path in paths - set(OPS_PATHS):
            assert ingress_backend(docs, path) == service, (overlay, path)
    for path in OPS_PATHS:
        for variant in (path, path + "/", path + "/x"):
            assert ingress_backend(docs, variant) is None, (overlay, variant)


# --- NetworkPolicy evaluation -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Peer:
    """One end of a connection: a pod (its namespace's labels and its own), or an outside address."""

    namespace: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    ports: tuple[tuple[str, int], ...] = ()  # named container ports of a pod
    ip: str = ""

    def namespace_labels(self) -> dict[str, str]:
        return {"kubernetes.io/metadata.name": self.namespace}


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        present = labels.get(expression["key"])
        if expression["operator"] == "In" and present not in expression["values"]:
            return False
        if expression["operator"] == "NotIn" and present in expression["values"]:
            return False
        if expression["operator"] == "Exists" and present is None:
            return False
    return True


def peer_matches(entry: dict[str, Any], peer: Peer, policy_namespace: str) -> bool:
    assert "ipBlock" not in entry, "teach the evaluator ipBlock before using one"
    if not peer.namespace:
        return False
    if "namespaceSelector" in entry:
        if not selects(entry["namespaceSelector"], peer.namespace_labels()):
            return False
    elif peer.namespace != policy_namespace:
        return False
    return selects(entry.get("podSelector", {}), dict(peer.labels))


def port_matches(rule: dict[str, Any], port: int, protocol: str, target: Peer) -> bool:
    if "ports" not in rule:
        return True
    named = dict(target.ports)
    for entry in rule["ports"]:
        wanted = entry.get("port")
        number = named.get(wanted) if isinstance(wanted, str) else wanted
        if entry.get("protocol", "TCP") == protocol and (wanted is None or number == port):
            return True
    return False


def allowed(
    policies: list[dict[str, Any]], source: Peer, target: Peer, port: int, protocol: str = "TCP"
) -> bool:
    """Whether the namespace's policies let ``source`` open ``target:port`` (both directions checked)."""

    def direction(pod: Peer, kind: str, other: Peer, key: str) -> bool:
        if not pod.namespace or pod.namespace != namespace:
            return True  # a pod outside the namespace, or an outside address: not ours to judge
        relevant = [
            p
            for p in policies
            if kind in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], dict(pod.labels))
        ]
        if not relevant:
            return True
        return any(
            port_matches(rule, port, protocol, target)
            and (key not in rule or any(peer_matches(e, other, namespace) for e in rule[key]))
            for p in relevant
            for rule in p["spec"].get(kind.lower(), [])
        )

    namespace = policies[0]["metadata"]["namespace"]
    return direction(source, "Egress", target, "to") and direction(target, "Ingress", source, "from")


def pod(component: str, namespace: str = "facequeue") -> Peer:
    port = {"api": 8080, "stream": 8081, "monitor": 8082}.get(component)
    ports = (("http", port),) if port else (("metrics", 9191),)
    return Peer(
        namespace,
        (("app.kubernetes.io/name", "facequeue"), ("app.kubernetes.io/component", component)),
        ports,
    )


INGRESS = Peer("ingress-nginx", (("app.kubernetes.io/name", "ingress-nginx"),))
PROMETHEUS = Peer("monitoring", (("app.kubernetes.io/name", "prometheus"),))
DNS = Peer("kube-system", (("k8s-app", "kube-dns"),))
REDIS = Peer(ip="10.20.0.5")
INTERNET = Peer(ip="203.0.113.7")


@pytest.fixture(scope="module", params=["prod", "prod-keda"])
def policies(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    found = list(of_kind(render(request.param), "NetworkPolicy").values())
    assert found, "the prod overlays ship NetworkPolicies"
    return found


def test_the_namespace_denies_by_default(policies: list[dict[str, Any]]) -> None:
    deny = [p for p in policies if p["spec"]["podSelector"] == {} and "ingress" not in p["spec"]]
    assert deny and set(deny[0]["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert not deny[0]["spec"].get("egress")


@pytest.mark.parametrize(
    ("source", "target", "port", "expected"),
    [
        (INGRESS, pod("api"), 8080, True),
        (INGRESS, pod("stream"), 8081, True),
        (INGRESS, pod("monitor"), 8082, False),
        (INGRESS, pod("worker"), 9191, False),
        (PROMETHEUS, pod("api"), 8080, True),
        (PROMETHEUS, pod("stream"), 8081, True),
        (PROMETHEUS, pod("monitor"), 8082, True),
        (PROMETHEUS, pod("worker"), 9191, True),
        (Peer("default", (("app", "curious"),)), pod("api"), 8080, False),
        (Peer("monitoring", (("app.kubernetes.io/name", "grafana"),)), pod("api"), 8080, False),
        (pod("api"), pod("monitor"), 8082, False),
        (pod("worker"), REDIS, 6379, True),
        (pod("monitor"), REDIS, 26379, True),
        (pod("api"), INTERNET, 443, False),
        (pod("worker"), Peer(ip="10.20.0.9"), 4318, True),
        (pod("stream"), DNS, 53, True),
    ],
)
def test_only_the_flows_the_services_need_are_allowed(
    policies: list[dict[str, Any]], source: Peer, target: Peer, port: int, expected: bool
) -> None:
    assert allowed(policies, source, target, port) is expected


def test_dns_answers_over_udp(policies: list[dict[str, Any]]) -> None:
    assert allowed(policies, pod("api"), DNS, 53, "UDP")
    assert not allowed(policies, pod("api"), INTERNET, 53, "UDP")


def test_dev_has_no_policies_to_get_in_the_way_of_a_local_cluster() -> None:
    assert not of_kind(render("dev"), "NetworkPolicy")


def test_the_evaluator_refuses_without_the_policies_that_allow() -> None:
    docs = render("prod")
    only_deny = [p for name, p in of_kind(docs, "NetworkPolicy").items() if name == "default-deny"]
    assert not allowed(only_deny, INGRESS, pod("api"), 8080)
    assert not allowed(only_deny, pod("worker"), REDIS, 6379)


def test_the_pods_evaluated_have_the_rendered_labels_and_ports() -> None:
    for name, deployment in of_kind(render("prod"), "Deployment").items():
        component = name.removeprefix("facequeue-")
        template = deployment["spec"]["template"]
        (container,) = template["spec"]["containers"]
        assert {(p["name"], p["containerPort"]) for p in container["ports"]} == set(pod(component).ports)
        assert set(pod(component).labels) <= set(template["metadata"]["labels"].items())
