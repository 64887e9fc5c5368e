"""Every third-party module the installed packages import is a declared runtime dependency.

A user installs with `pip install .` and no extras: a module that only a dev extra brings in
(the test tools pull in many) works in CI and fails for them with ModuleNotFoundError.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests import procs

PYPROJECT = tomllib.loads((procs.REPO / "pyproject.toml").read_text())
PACKAGES = PYPROJECT["tool"]["mypy"]["packages"]
DECLARED = {canonicalize_name(Requirement(r).name) for r in PYPROJECT["project"]["dependencies"]}


def imported_modules() -> dict[str, set[str]]:
    """Top-level third-party module name -> the files that import it."""
    found: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in (procs.REPO / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in PACKAGES and top not in sys.stdlib_module_names:
                        found.setdefault(top, set()).add(str(path.relative_to(procs.REPO)))
    return found


def test_every_runtime_import_is_a_declared_dependency() -> None:
    distributions = packages_distributions()
    undeclared = {}
    for module, files in sorted(imported_modules().items()):
        names = {canonicalize_name(d) for d in distributions.get(module, [module])}
        if not names & DECLARED:
            undeclared[module] = sorted(files)
    assert not undeclared, f"imported at run time but not in [project.dependencies]: {undeclared}"


def test_the_scan_sees_the_known_imports() -> None:
    # Guards the scan itself: these are imported today, so an empty result means it broke.
    assert {"aiohttp", "sqlalchemy", "httpx", "starlette"} <= imported_modules().keys()
