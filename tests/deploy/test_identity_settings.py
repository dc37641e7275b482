"""Every identity setting (issue 22: OIDC, SSO mapping, the auth proxy) can be set in both
deployments: compose's shared environment and the Kubernetes ConfigMap (or, for the client
secret, the Secret the api and stream Deployments read). A new ``oidc_*``, ``sso_*`` or
``auth_proxy`` field in shared/config.py fails here until both carry it."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from shared.config import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s" / "base"


def identity_variables() -> set[str]:
    names = [f.name for f in dataclasses.fields(Settings)]
    return {
        ENV_PREFIX + name.upper()
        for name in names
        if name.startswith(("oidc_", "sso_")) or name == "auth_proxy"
    }


def compose_variables() -> set[str]:
    compose: dict[str, Any] = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    return set(compose["x-facequeue-env"])


def kubernetes_variables(deployment: str) -> set[str]:
    kustomization: dict[str, Any] = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    (config,) = [g for g in kustomization["configMapGenerator"] if g["name"] == "facequeue-config"]
    literals = {literal.partition("=")[0] for literal in config["literals"]}
    docs: list[dict[str, Any]] = list(yaml.safe_load_all((K8S / f"{deployment}.yaml").read_text()))
    (manifest,) = [d for d in docs if d and d.get("kind") == "Deployment"]
    (container,) = manifest["spec"]["template"]["spec"]["containers"]
    refs = {ref["configMapRef"]["name"] for ref in container.get("envFrom", []) if "configMapRef" in ref}
    assert any(ref.startswith("facequeue-config") for ref in refs), refs
    return literals | {env["name"] for env in container.get("env", [])}


def test_the_identity_settings_are_the_ones_expected() -> None:
    # The check below is only as good as this list: it must hold the whole family
    assert {
        "FQ_OIDC_ISSUER",
        "FQ_OIDC_REDIRECT_URL",
        "FQ_SSO_GROUP_ROLES",
        "FQ_AUTH_PROXY",
    } <= identity_variables()


def test_compose_defines_every_identity_setting() -> None:
    missing = identity_variables() - compose_variables()
    assert not missing, f"deploy/docker-compose.yml (x-facequeue-env) lacks {sorted(missing)}"


def test_kubernetes_defines_every_identity_setting_for_api_and_stream() -> None:
    for deployment in ("api", "stream"):
        missing = identity_variables() - kubernetes_variables(deployment)
        assert not missing, f"deploy/k8s/base ({deployment}) lacks {sorted(missing)}"
