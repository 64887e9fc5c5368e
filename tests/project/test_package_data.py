"""Every data file directly in a package folder is in pyproject's `package-data`, so an
installed (non-editable) consentgate has it too: the starter config `consentgate init` writes,
its tracker table, the fideslang taxonomy, the demo's catalog and config."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

import pytest

from tests import procs

SETUPTOOLS = tomllib.loads((procs.REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
ROOTS = [p.rstrip("*") for p in SETUPTOOLS["packages"]["find"]["include"]]
# Source and build products, not data: compiled in, or not read at run time.
NOT_DATA = {".py", ".pyc", ".c", ".so", ".pyi"}


def _package_of(path: Path) -> tuple[str, str]:
    """The innermost package (folder with __init__.py) holding `path`, and the path in it."""
    folder = path.parent
    while not (folder / "__init__.py").exists():
        folder = folder.parent
    package = folder.relative_to(procs.REPO).as_posix().replace("/", ".")
    return package, path.relative_to(folder).as_posix()


def _data_files() -> list[Path]:
    found: list[Path] = []
    for root in ROOTS:
        for path in sorted((procs.REPO / root).rglob("*")):
            # Files directly in a package folder; setuptools reaches folders without
            # __init__.py by rules of its own (the wheel holds consent/templates/ too).
            direct = (path.parent / "__init__.py").exists()
            if direct and path.is_file() and path.suffix not in NOT_DATA:
                found.append(path)
    return found


def test_the_starter_config_and_the_taxonomy_are_data_files() -> None:
    names = {p.relative_to(procs.REPO).as_posix() for p in _data_files()}
    assert {
        "policies/starter/config.yaml.tmpl",
        "policies/starter/trackers.yaml",
        "policies/fideslang_data_uses.txt",
    } <= names


@pytest.mark.parametrize("path", _data_files(), ids=lambda p: p.relative_to(procs.REPO).as_posix())
def test_package_data_covers(path: Path) -> None:
    package, inside = _package_of(path)
    patterns = [
        *SETUPTOOLS["package-data"].get("*", []),
        *SETUPTOOLS["package-data"].get(package, []),
    ]
    # setuptools globs match within the package folder; "*" does not cross a "/".
    matched = [
        p for p in patterns if fnmatch.fnmatch(inside, p) and inside.count("/") == p.count("/")
    ]
    assert matched, f"{inside} of package {package} is not in [tool.setuptools.package-data]"
