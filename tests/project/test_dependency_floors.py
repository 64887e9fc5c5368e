"""The installed dependencies satisfy pyproject's floors, including the security floors
(h11 >= 0.16 for CVE-2025-43859, starlette >= 1.3.1 for CVE-2025-62727 and the 2026 Host/URL
and form-limit advisories, aiohttp >= 3.14.3, python-multipart >= 0.0.26, cryptography >=
50.0 (CVE-2026-69247), brotli >= 1.2, idna >= 3.7, jinja2 >= 3.1.6; pyproject.toml names
the CVE behind each): an environment that resolved an older, vulnerable release fails here
rather than in production. Floors checked against the advisories of 2026-12 (pip-audit could
not reach its vulnerability services from the build machine; the advisories were read by
hand)."""

from __future__ import annotations

import tomllib
from importlib.metadata import PackageNotFoundError, version

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from tests import procs

REQUIREMENTS = [
    Requirement(line)
    for line in tomllib.loads((procs.REPO / "pyproject.toml").read_text())["project"][
        "dependencies"
    ]
]
SECURITY_FLOORS = {
    "h11": "0.16",
    "starlette": "1.3.1",
    "brotli": "1.2",
    "idna": "3.7",
    "jinja2": "3.1.6",
    "aiohttp": "3.14.3",
    "python-multipart": "0.0.26",
    "cryptography": "50.0",
}


@pytest.mark.parametrize("requirement", REQUIREMENTS, ids=lambda r: r.name)
def test_installed_version_meets_the_floor(requirement: Requirement) -> None:
    try:
        installed = version(requirement.name)
    except PackageNotFoundError:
        pytest.fail(f"{requirement.name} is not installed")
    assert requirement.specifier.contains(installed, prereleases=True), (
        f"{requirement.name} {installed} does not satisfy {requirement.specifier}"
    )


@pytest.mark.parametrize("name", sorted(SECURITY_FLOORS))
def test_security_floor_is_declared(name: str) -> None:
    declared = {r.name.lower(): r.specifier for r in REQUIREMENTS}
    assert name in declared, f"{name} has no floor in pyproject.toml"
    floor = SECURITY_FLOORS[name]
    assert f">={floor}" in {str(s) for s in declared[name]}, declared[name]


@pytest.mark.parametrize("name", sorted(SECURITY_FLOORS))
def test_installed_version_is_past_the_security_floor(name: str) -> None:
    # Read from the installed metadata, independent of how pyproject spells the specifier.
    assert Version(version(name)) >= Version(SECURITY_FLOORS[name]), (name, version(name))
