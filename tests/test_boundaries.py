"""The tree's import rules (DESIGN.md, issue 24): ``shared/`` imports nothing from ``services/`` or
``devstack/``; a service imports no other service; no service imports developer tooling. The one
launcher, ``services/cli.py``, starts each service's ``main`` by name, and is the one module of
``services/`` that may import ``devstack`` (for ``facequeue up``, which stops with a clear message
where devstack is not installed, as in the image)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("api", "stream", "monitor", "worker")


def _imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_the_rules_see_the_whole_tree() -> None:
    # Given the folders the rules cover, each holds modules (a rename would make the rules vacuous).
    assert len(_modules("shared")) > 20
    assert all(len(_modules(f"services/{name}")) > 3 for name in SERVICES)


@pytest.mark.parametrize("path", _modules("shared"), ids=lambda p: p.name)
def test_shared_imports_no_service_and_no_tooling(path: Path) -> None:
    wrong = [m for m in _imports(path) if m.split(".")[0] in {"services", "devstack", "tests", "bench"}]
    assert not wrong, f"{path.relative_to(ROOT)} imports {wrong}"


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_no_other_service(service: str) -> None:
    others = {f"services.{name}" for name in SERVICES if name != service} | {"services.cli"}
    wrong = {
        f"{path.relative_to(ROOT)}: {module}"
        for path in _modules(f"services/{service}")
        for module in _imports(path)
        if module.split(".")[0] in {"devstack", "tests", "bench"} or ".".join(module.split(".")[:2]) in others
    }
    assert not wrong, sorted(wrong)


def test_the_launcher_imports_devstack_only_and_is_the_only_one_that_does() -> None:
    # Given the launcher, it imports no test or bench code, and devstack only for `up`
    launcher = ROOT / "services" / "cli.py"
    imported = list(_imports(launcher))
    assert not [m for m in imported if m.split(".")[0] in {"tests", "bench"}], imported
    assert [m for m in imported if m.split(".")[0] == "devstack"] == ["devstack.stack"]
    # and no other module of services/ (the launcher's neighbours included) imports devstack
    wrong = [
        f"{path.relative_to(ROOT)}: {module}"
        for path in _modules("services")
        if path != launcher
        for module in _imports(path)
        if module.split(".")[0] == "devstack"
    ]
    assert not wrong, wrong
