"""The kustomize overlays render with a real kustomize and every manifest is valid and hardened."""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.deploy.helpers import K8S, OVERLAYS, of_kind, render

#: Kubernetes version whose schemas (bundled in kubernetes-validate, offline) the manifests must meet.
KUBERNETES_VERSION = "1.30.0"
COMPONENTS = ("api", "stream", "monitor", "worker")

_OBJECT = {"type": "object"}
_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string", "minLength": 1}, "labels": _OBJECT, "annotations": _OBJECT},
}
_SELECTOR = {
    "type": "object",
    "required": ["matchLabels"],
    "properties": {"matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}},
}
_ENDPOINT = {
    "type": "object",
    "required": ["port"],
    "additionalProperties": False,
    "properties": {
        "port": {"type": "string"},
        "path": {"type": "string", "pattern": "^/"},
        "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
    },
}


def _crd(api_version: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": _METADATA,
            "spec": spec,
        },
    }


#: The subset of the Prometheus Operator's and KEDA's CRD schemas these manifests use; their
#: full schemas are not bundled offline. Unknown fields are refused, as the API server would.
CRD_SCHEMAS: dict[str, dict[str, Any]] = {
    "ServiceMonitor": _crd(
        "monitoring.coreos.com/v1",
        "ServiceMonitor",
        {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "jobLabel": {"type": "string"},
                "selector": _SELECTOR,
                "endpoints": {"type": "array", "minItems": 1, "items": _ENDPOINT},
            },
        },
    ),
    "PodMonitor": _crd(
        "monitoring.coreos.com/v1",
        "PodMonitor",
        {
            "type": "object",
            "required": ["selector", "podMetricsEndpoints"],
            "additionalProperties": False,
            "properties": {
                "jobLabel": {"type": "string"},
                "selector": _SELECTOR,
                "podMetricsEndpoints": {"type": "array", "minItems": 1, "items": _ENDPOINT},
            },
        },
    ),
    "PrometheusRule": _crd(
        "monitoring.coreos.com/v1",
        "PrometheusRule",
        {
            "type": "object",
            "required": ["groups"],
            "additionalProperties": False,
            "properties": {
                "groups": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["name", "rules"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "interval": {"type": "string"},
                            "rules": {
                                "type": "array",
                                "minItems": 1,
                                "items": {
                                    "type": "object",
                                    "required": ["expr"],
                                    "additionalProperties": False,
                                    "oneOf": [{"required": ["record"]}, {"required": ["alert"]}],
                                    "properties": {
                                        "record": {"type": "string"},
                                        "alert": {"type": "string"},
                                        "expr": {"type": "string", "minLength": 1},
                                        "for": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                                        "labels": {
                                            "type": "object",
                                            "additionalProperties": {"type": "string"},
                                        },
                                        "annotations": {
                                            "type": "object",
                                            "additionalProperties": {"type": "string"},
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    ),
    "ScaledObject": _crd(
        "keda.sh/v1alpha1",
        "ScaledObject",
        {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"type": "string"}, "kind": {"type": "string"}},
                },
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "advanced": _OBJECT,
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["type", "metadata"],
                        "properties": {
                            "type": {"const": "prometheus"},
                            "metadata": {
                                "type": "object",
                                "required": ["serverAddress", "query", "threshold"],
                                "additionalProperties": {"type": "string"},
                            },
                        },
                    },
                },
            },
        },
    ),
}


def settings_map(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The facequeue-config ConfigMap (its name carries kustomize's content hash)."""
    (config,) = [c for name, c in of_kind(docs, "ConfigMap").items() if name.startswith("facequeue-config")]
    return config


def validate(doc: dict[str, Any]) -> None:
    """Raise unless ``doc`` meets its kind's schema (strict: unknown fields are errors)."""
    if doc["kind"] in CRD_SCHEMAS:
        jsonschema.validate(doc, CRD_SCHEMAS[doc["kind"]])
    else:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {overlay: render(overlay) for overlay in OVERLAYS}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_manifest_of_the_overlay_is_valid_against_the_kubernetes_schemas(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    # Given the overlay rendered by a real kustomize
    docs = rendered[overlay]
    # Then it holds the whole application
    kinds = {doc["kind"] for doc in docs}
    assert {"Deployment", "Service", "Ingress", "ConfigMap", "PodDisruptionBudget"} <= kinds
    assert {"HorizontalPodAutoscaler", "ServiceMonitor", "PodMonitor", "ServiceAccount"} <= kinds
    # And every manifest meets its schema
    for doc in docs:
        validate(doc)


def test_the_schema_check_refuses_broken_manifests(rendered: dict[str, list[dict[str, Any]]]) -> None:
    # Given valid manifests, each broken in one way
    deployment = copy.deepcopy(of_kind(rendered["dev"], "Deployment")["facequeue-api"])
    deployment["spec"]["replicas"] = "two"
    typo = copy.deepcopy(of_kind(rendered["dev"], "Deployment")["facequeue-api"])
    typo["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    monitor = copy.deepcopy(of_kind(rendered["dev"], "ServiceMonitor")["facequeue"])
    monitor["spec"]["endpoints"][0]["intervall"] = "15s"
    # Then each is refused
    for doc in (deployment, typo, monitor):
        with pytest.raises((kubernetes_validate.ValidationError, jsonschema.ValidationError)):
            validate(doc)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_is_hardened_probed_and_rolls_without_losing_capacity(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    deployments = of_kind(rendered[overlay], "Deployment")
    for component in COMPONENTS:
        deployment = deployments[f"facequeue-{component}"]
        spec = deployment["spec"]
        pod = spec["template"]["spec"]
        (container,) = pod["containers"]
        assert container["args"] == [component]
        assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        hardening = container["securityContext"]
        assert hardening["readOnlyRootFilesystem"] is True
        assert hardening["allowPrivilegeEscalation"] is False
        assert hardening["capabilities"]["drop"] == ["ALL"]
        # /tmp is the one writable path (the worker's Prometheus multiprocess files live there).
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
        assert any(v["name"] == "tmp" and "emptyDir" in v for v in pod["volumes"])
        assert set(container["resources"]) == {"requests", "limits"}
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]) & set(
            container["resources"]["limits"]
        )
        assert "livenessProbe" in container and "readinessProbe" in container
        if component != "worker":
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        if component in ("api", "stream"):
            # Serving pods leave the endpoints before they stop accepting.
            assert container["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
    assert deployments["facequeue-monitor"]["spec"]["replicas"] == 2


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_stream_outlives_its_drain_on_termination(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    docs = rendered[overlay]
    config = settings_map(docs)
    drain_s = float(config["data"]["FQ_STREAM_DRAIN_S"])
    pod = of_kind(docs, "Deployment")["facequeue-stream"]["spec"]["template"]["spec"]
    prestop_s = float(pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][1])
    assert drain_s == 30
    assert pod["terminationGracePeriodSeconds"] > prestop_s + drain_s + 5


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_disruption_budgets_and_autoscalers_point_at_real_workloads(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    docs = rendered[overlay]
    deployments = of_kind(docs, "Deployment")
    pdbs = of_kind(docs, "PodDisruptionBudget")
    for component in COMPONENTS:
        labels = deployments[f"facequeue-{component}"]["spec"]["template"]["metadata"]["labels"]
        selector = pdbs[f"facequeue-{component}"]["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels.items()
    hpas = of_kind(docs, "HorizontalPodAutoscaler")
    for hpa in hpas.values():
        assert hpa["spec"]["scaleTargetRef"]["name"] in deployments
    assert hpas["facequeue-api"]["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    stream_metric = hpas["facequeue-stream"]["spec"]["metrics"][0]
    assert stream_metric["pods"]["metric"]["name"] == "facequeue_stream_clients_connected"
    if overlay == "prod-keda":
        # KEDA owns the worker's scaling: a second HPA would fight it.
        assert "facequeue-worker" not in hpas
        (scaled,) = of_kind(docs, "ScaledObject").values()
        assert scaled["spec"]["scaleTargetRef"]["name"] == "facequeue-worker"
        assert 'state="waiting"' in scaled["spec"]["triggers"][0]["metadata"]["query"]
    else:
        external = hpas["facequeue-worker"]["spec"]["metrics"][0]["external"]
        assert external["metric"] == {
            "name": "facequeue_queue_jobs",
            "selector": {"matchLabels": {"state": "waiting"}},
        }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_ingress_sends_stream_paths_unbuffered_to_the_gateway(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    ingresses = of_kind(rendered[overlay], "Ingress")
    routes = {
        path["path"]: (ingress["metadata"]["name"], path["backend"]["service"]["name"])
        for ingress in ingresses.values()
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert routes["/"][1] == routes["/api"][1] == "facequeue-api"
    assert routes["/stream"][1] == routes["/ws"][1] == "facequeue-stream"
    annotations = ingresses[routes["/stream"][0]]["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    services = of_kind(rendered[overlay], "Service")
    assert {"facequeue-api", "facequeue-stream"} <= set(services)


def test_dev_runs_redis_in_the_cluster_and_ships_no_credentials(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    docs = rendered["dev"]
    assert "redis" in of_kind(docs, "StatefulSet") and "redis" in of_kind(docs, "Service")
    config = settings_map(docs)
    assert config["data"]["FQ_REDIS_URL"] == "redis://redis:6379/0"
    # A credential in the repository would be a published default (issue 16): the Secret is made
    # outside it, and a pod whose Secret is missing does not start.
    assert not of_kind(docs, "Secret")
    api = of_kind(docs, "Deployment")["facequeue-api"]["spec"]["template"]["spec"]["containers"][0]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in api["env"] if "valueFrom" in e}
    assert refs["FQ_SECRET"] == {"name": "facequeue-secrets", "key": "session-secret"}
    assert refs["FQ_ADMIN_TOKEN"] == {"name": "facequeue-secrets", "key": "admin-token"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_api_and_stream_trust_only_the_ingress_for_client_addresses(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    config = settings_map(rendered[overlay])
    networks = config["data"]["FQ_TRUSTED_PROXIES"].split(",")
    assert networks and all(ipaddress.ip_network(n).is_private for n in networks)
    assert config["data"]["FQ_PROXY_HEADER"] == "x-forwarded-for"  # what ingress-nginx writes


@pytest.mark.parametrize("overlay", ["prod", "prod-keda", "prod-sentinel"])
def test_prod_reads_redis_and_credentials_from_secrets_it_does_not_ship(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    docs = rendered[overlay]
    assert not of_kind(docs, "Secret") and not of_kind(docs, "StatefulSet")
    config = settings_map(docs)
    assert "FQ_REDIS_URL" not in config["data"]
    for name, deployment in of_kind(docs, "Deployment").items():
        env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["FQ_REDIS_URL"]["valueFrom"]["secretKeyRef"] == {"name": "facequeue-redis", "key": "url"}
        if name in ("facequeue-api", "facequeue-stream"):
            # Required keys: a missing Secret stops the pod instead of running with a default.
            for var in ("FQ_ADMIN_TOKEN", "FQ_SECRET"):
                ref = env[var]["valueFrom"]["secretKeyRef"]
                assert ref["name"] == "facequeue-secrets" and not ref.get("optional", False)
    assert all(ingress["spec"]["tls"] for ingress in of_kind(docs, "Ingress").values())


def test_prod_sentinel_asks_the_charts_sentinels_for_the_primary(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    # Given the Bitnami chart's values the overlay documents (release "redis-sentinel")
    values = yaml.safe_load((K8S / "redis-sentinel" / "values.yaml").read_text())
    assert values["sentinel"]["enabled"] and values["architecture"] == "replication"
    assert values["replica"]["replicaCount"] >= 3  # a primary and two replicas: one may fail
    assert values["sentinel"]["quorum"] == 2 and values["auth"]["sentinel"] is True
    docs = rendered["prod-sentinel"]
    config = settings_map(docs)
    # Then every process asks that release's Sentinels for that master set, with one replica's ack
    assert config["data"]["FQ_REDIS_SENTINELS"] == "redis-sentinel:26379"
    assert config["data"]["FQ_REDIS_SENTINEL_SERVICE"] == values["sentinel"]["masterSet"]
    assert int(config["data"]["FQ_REDIS_MIN_REPLICAS_ACK"]) == 1
    for deployment in of_kind(docs, "Deployment").values():
        env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
        for var in ("FQ_REDIS_PASSWORD", "FQ_REDIS_SENTINEL_PASSWORD"):
            assert env[var]["valueFrom"]["secretKeyRef"] == {
                "name": "redis-sentinel",
                "key": "redis-password",
            }
    # And the other overlays keep FQ_REDIS_URL alone
    for overlay in ("dev", "prod"):
        other = settings_map(rendered[overlay])
        assert "FQ_REDIS_SENTINELS" not in other["data"]
