"""Headless Chromium for the browser tests: one launch per test module.

Debian's `chromium` driven by Playwright (`executable_path`), with the flags that keep it from
phoning home on machines without a network. A module marks itself with `pytestmark = MARKS`
and takes the module-scoped `browser` fixture. Not session-scoped: Playwright's sync API keeps an
event loop running in the main thread while a browser is open, so a module's own setup could no
longer call `asyncio.run`.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.environment import needs

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MARKS = [
    pytest.mark.browser,
    pytest.mark.e2e,
    needs(CHROMIUM, "chromium is not installed (apt install chromium)"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
