"""The arrows of the house point one way: each package imports only the packages below it.

`policies` (config) and `storage` (the engine, migrations, table declarations) import none of
ours; `dsr` joins the stores for data-subject requests; `gateway` wires everything and nothing pure
imports it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests import procs

# Package -> the packages of ours it may import.
BELOW: dict[str, set[str]] = {
    "policies": set(),
    "storage": set(),
    "audit": {"policies", "storage"},
    "consent": {"audit", "policies", "storage"},
    "personalization_rules": {"consent", "policies", "storage"},
    "dsr": {"audit", "consent", "personalization_rules", "policies", "storage"},
    "gateway": {"audit", "consent", "dsr", "personalization_rules", "policies", "storage"},
}


def imported(path: Path) -> set[str]:
    """The top-level names `path` imports (absolute imports, anywhere in the file)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(BELOW))
def test_a_package_imports_only_the_ones_below_it(package: str) -> None:
    wrong = {
        str(path.relative_to(procs.REPO)): sorted(found)
        for path in sorted((procs.REPO / package).rglob("*.py"))
        if (found := (imported(path) & BELOW.keys()) - BELOW[package] - {package})
    }
    assert wrong == {}
