"""What a test needs from the machine, and what its absence does.

Outside CI a missing tool (chromium, openssl, the PostgreSQL server binaries ...) skips the
tests that need it and says what to install. Under ``CI=true`` the same absence fails them:
a CI image that lost a tool must not turn the suite green by skipping what it cannot run.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

IN_CI = os.environ.get("CI") == "true"


def missing(reason: str) -> NoReturn:
    """Stop the current test for lack of `reason`: a skip on a workstation, a failure in CI."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing tool fails)", pytrace=False)
    pytest.skip(reason)


def needs(available: object, reason: str) -> pytest.MarkDecorator:
    """Mark a test (or a module, through `pytestmark`) as needing `available` to be true."""
    return pytest.mark.needs(bool(available), reason)


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("needs"):
        available, reason = mark.args
        if not available:
            missing(reason)
