"""Headless Chromium for the browser tests: one launch per test module.

Debian's `chromium` driven by Playwright (`executable_path`), with the flags that keep it from
phoning home on machines without a network. A module marks itself with `pytestmark = MARKS`
and takes the module-scoped `browser` fixture. Not session-scoped: Playwright's sync API keeps an
event loop running in the main thread while a browser is open, so a module's own setup could no
longer call `asyncio.run`.

`visits(browser, base_url)` opens visitors played with `X-Forwarded-For`, each in a fresh
context that records every URL it asks for and aborts those that leave loopback: the machine
has no internet, so what counts is that the browser *attempted* a tracker, and aborting saves
the slow DNS failure.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from tests.environment import needs

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize

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
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
# The demo shop's third parties, by the demo purpose that covers them.
ANALYTICS_HOSTS = frozenset({"www.googletagmanager.com", "static.hotjar.com"})
# Sale/sharing/targeted advertising (CCPA/CPRA): the demo's `marketing` purpose.
MARKETING_HOSTS = frozenset({"connect.facebook.net", "www.facebook.com", "analytics.tiktok.com"})
YOUTUBE = frozenset({"www.youtube.com"})  # the video embed, also `marketing`


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def off_loopback(*addresses: str) -> re.Pattern[str]:
    """http(s) URLs to any host but `addresses` (default 127.0.0.1)."""
    allowed = "|".join(re.escape(a) for a in addresses or ("127.0.0.1",))
    return re.compile(rf"^https?://(?!(?:{allowed})[:/])")


def abort_off_loopback(context: BrowserContext, *addresses: str) -> None:
    """Abort every request of `context` that leaves `addresses` (default 127.0.0.1)."""
    context.route(off_loopback(*addresses), lambda route: route.abort())


def goto(page: Page, path: str) -> None:
    """Load `path` in `page`, which must answer 200."""
    response = page.goto(path, wait_until="load")
    assert response is not None and response.status == 200, path


def host_of(url: str) -> str:
    match = re.match(r"^[a-z]+://([^/:?#]+)", url)
    return match.group(1) if match else ""


@dataclass
class Visit:
    """One visitor's browser context and page, and every URL it asked for, in order."""

    context: BrowserContext
    page: Page
    requested: list[str] = field(default_factory=list)

    def hosts(self) -> list[str]:
        """Hosts of every request the browser attempted so far (tracker or not)."""
        return [host_of(url) for url in self.requested]

    def to(self, hosts: Collection[str]) -> list[str]:
        """The attempted requests to any of `hosts`."""
        return [url for url in self.requested if host_of(url) in hosts]

    def consent(self) -> dict[str, Any]:
        """GET /_privacy/consent as this browser (its cookies)."""
        response = self.context.request.get("/_privacy/consent")
        assert response.ok
        state: dict[str, Any] = response.json()
        return state


Visitor = Callable[..., Visit]


@contextlib.contextmanager
def visits(browser: Browser, base_url: str) -> Iterator[Visitor]:
    """`visit(ip, viewport=DESKTOP, javascript=True, **headers)` opens a fresh context (no
    cookies) for a visitor at `ip`; every context is closed on exit."""
    contexts: list[BrowserContext] = []

    def visit(
        ip: str, *, viewport: ViewportSize = DESKTOP, javascript: bool = True, **headers: str
    ) -> Visit:
        context = browser.new_context(
            base_url=base_url,
            viewport=viewport,
            java_script_enabled=javascript,
            extra_http_headers={"X-Forwarded-For": ip, **headers},
        )
        contexts.append(context)
        context.set_default_timeout(15_000)
        opened = Visit(context, context.new_page())
        context.on("request", lambda request: opened.requested.append(request.url))
        abort_off_loopback(context)
        return opened

    try:
        yield visit
    finally:
        for context in contexts:
            context.close()
