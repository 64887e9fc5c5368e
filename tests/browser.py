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
The enforcement suites load each page as three visitors (`VISITORS`, `visitor_context`):
one from London who decided nothing (gdpr: nothing may load), one from London who granted
analytics only, and one from San Francisco sending GPC (us-optout: no sale/share host). Every
request that leaves the gateway's origin is answered locally and counted.
"""

from __future__ import annotations

import contextlib
import fnmatch
import re
import shutil
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from tests import procs
from tests.environment import needs

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Route, ViewportSize

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
# The demo shop's third parties, by the demo purpose that covers them (ANALYTICS_HOSTS below).
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


@pytest.fixture
def visit(world: Any, browser: Browser) -> Iterator[Visitor]:
    """`visits` on the module's own `world` fixture (anything with a `url`)."""
    with visits(browser, world.url) as opener:
        yield opener


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


# Three visitors every enforcement page is loaded as. The places are the demo geo database's
# (`gateway.demo.geodb`), sent as X-Forwarded-For, which the gateway trusts from loopback.
LONDON, SAN_FRANCISCO = "81.2.69.160", "198.51.100.7"
VISITORS = ("rejected", "analytics-only", "gpc")
_DEMO_HOSTS = {p["id"]: p.get("hosts", []) for p in procs.demo_purposes()["purposes"]}
ANALYTICS_HOSTS = frozenset(h for h in _DEMO_HOSTS["analytics"] if "*" not in h)


def visitors_config(directory: Path, upstream: str, **sections: Any) -> Path:
    """A config for the demo's purposes in front of `upstream` that tells the three visitors
    apart: London is gdpr (opt-in), San Francisco us-optout. `sections` are added at the top."""
    from gateway.demo.geodb import build_geo_database

    path = procs.write_config(directory, upstream=upstream, trusted_proxies=["127.0.0.1/32"])
    data = yaml.safe_load(path.read_text())
    data.update(procs.demo_purposes())
    data["geo"] = {"database": str(build_geo_database(directory / "city.mmdb"))}
    data.update(sections)
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def granted(visitor: str, host: str) -> bool:
    """Whether the demo's purposes let `visitor` load from `host`, one they list: a London
    visitor who decided nothing gets nothing (gdpr is opt-in); one who granted analytics gets
    analytics; under us-optout everything starts granted and GPC opts out of sale/sharing
    (marketing)."""
    if visitor == "rejected":
        return False
    return any(fnmatch.fnmatchcase(host, pattern) for pattern in _DEMO_HOSTS["analytics"])


def _answer(route: Route) -> None:
    """Stand in for the third party: a body of the kind the request asked for."""
    kind = route.request.resource_type
    if kind == "image":
        route.fulfill(status=200, body=GIF, content_type="image/gif")
    elif kind in _BODIES:
        body, content_type = _BODIES[kind]
        route.fulfill(status=200, body=body, content_type=content_type)
    else:
        route.fulfill(status=204, body="")


GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
_BODIES = {
    "document": ("<p>tracker</p>", "text/html"),
    "stylesheet": ("", "text/css"),
    "script": ("", "application/javascript"),
}


@contextlib.contextmanager
def visitor_context(
    browser: Browser, origin: str, visitor: str
) -> Iterator[tuple[BrowserContext, list[str]]]:
    """A fresh context for `visitor` (one of VISITORS) against the gateway at `origin`, and the
    list every request that leaves `origin` is appended to (answered here, never sent)."""
    headers = {"X-Forwarded-For": SAN_FRANCISCO if visitor == "gpc" else LONDON}
    if visitor == "gpc":
        headers["Sec-GPC"] = "1"  # GPC spec: the header a browser sends with the signal on
    context = browser.new_context(extra_http_headers=headers)
    off_origin: list[str] = []

    def intercept(route: Route) -> None:
        if route.request.url.startswith(origin + "/"):
            route.continue_()
        else:
            off_origin.append(route.request.url)
            _answer(route)

    try:
        if visitor == "analytics-only":
            choice = {"analytics": True, "marketing": False, "personalization": False}
            answer = context.request.post(
                f"{origin}/_privacy/consent", data={"purposes": choice}, headers={"Origin": origin}
            )
            assert answer.ok, answer.text()
            assert [c["name"] for c in context.cookies()] == ["cg_id"]
        context.route("**/*", intercept)
        yield context, off_origin
    finally:
        context.close()


def load(browser: Browser, origin: str, path: str, visitor: str = "rejected") -> list[str]:
    """Open `origin + path` as `visitor` until the network is idle; every URL requested off
    `origin`, in order."""
    with visitor_context(browser, origin, visitor) as (context, off_origin):
        page = context.new_page()
        page.goto(origin + path)
        page.wait_for_load_state("networkidle")
    return off_origin
