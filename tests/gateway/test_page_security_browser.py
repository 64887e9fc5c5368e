"""The gateway's own pages in headless Chromium: framing and content policy as a browser
enforces them (`gateway.http.security`).

- A page on another loopback origin (`localhost:PORT`, a raw upstream) that iframes
  `/_privacy/preferences` or the my-data page does not get them rendered (clickjacking:
  `frame-ancestors 'none'`, `X-Frame-Options: DENY`); with that origin in
  `gateway.embed_origins` it does (the control that shows the test can tell), and the
  console still does not.
- Top-level, every page kind renders with its inline style applied and without one CSP
  violation: the start-up hashes match what the templates really carry.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests import procs
from tests.browser import MARKS
from tests.figures import Figures

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Frame, Page

pytestmark = MARKS

FRAMED = ["/_privacy/preferences", "/_privacy/my-data?format=html", "/_privacy/admin/login"]


@dataclass
class Framer:
    origin: str  # http://localhost:PORT, another origin (and site) than the gateways
    pages: Path  # the files it answers with


def _frame_page(src: str) -> bytes:
    body = f'<!doctype html><title>framer</title><iframe id="f" src="{src}"></iframe>'
    head = "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nConnection: close\r\n"
    return (head + f"Content-Length: {len(body)}\r\n\r\n" + body).encode()


@pytest.fixture(scope="module")
def framer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Framer]:
    pages = tmp_path_factory.mktemp("framer")
    with procs.start_raw_upstream(pages) as server:
        yield Framer(f"http://localhost:{server.port}", pages)


@pytest.fixture(scope="module")
def upstream() -> Iterator[procs.Server]:
    with procs.start_upstream() as server:
        yield server


@pytest.fixture(scope="module")
def strict(
    upstream: procs.Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[procs.Server]:
    """No `embed_origins`: nothing may frame the gateway."""
    config = procs.write_config(tmp_path_factory.mktemp("strict"), upstream=upstream.url)
    with procs.start_gateway(config) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def embedding(
    upstream: procs.Server, framer: Framer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[procs.Server]:
    """`embed_origins: [the framer's origin]`."""
    directory = tmp_path_factory.mktemp("embedding")
    config = procs.write_config(directory, upstream=upstream.url, embed_origins=[framer.origin])
    with procs.start_gateway(config) as gateway:
        yield gateway


def _with_subject(base: str) -> dict[str, str]:
    """Cookies of a visitor who made a choice (so my-data has a subject to show)."""
    with httpx.Client(base_url=base) as client:
        chose = client.post(
            "/_privacy/consent", json={"action": "accept_all"}, headers={"Origin": base}
        )
        assert chose.status_code == 200, chose.text
        return dict(client.cookies)


def _open(browser: Browser, gateway: procs.Server) -> Page:
    context = browser.new_context()
    host = gateway.url.removeprefix("http://").split(":")[0]
    # SameSite=Lax cookies are not sent in a cross-site frame; the my-data frame would be a
    # 404 either way, which is fine: what is rendered there is what the test looks at.
    context.add_cookies(
        [
            {"name": k, "value": v, "domain": host, "path": "/"}
            for k, v in _with_subject(gateway.url).items()
        ]
    )
    context.set_default_timeout(15_000)
    return context.new_page()


def _frame(page: Page) -> Frame:
    [child] = [f for f in page.frames if f is not page.main_frame]
    return child


def _rendered(frame: Frame, gateway: procs.Server) -> bool:
    """True when the frame holds a document from the gateway, not Chromium's error page."""
    try:
        href = frame.evaluate("() => location.href")
    except Exception:  # a blocked frame may have no document to evaluate in
        return False
    return isinstance(href, str) and href.startswith(gateway.url)


def _load_framer(framer: Framer, page: Page, gateway: procs.Server, path: str) -> Frame:
    name = f"frame-{gateway.port}-{FRAMED.index(path)}"
    (framer.pages / name).write_bytes(_frame_page(gateway.url + path))
    page.goto(f"{framer.origin}/{name}", wait_until="load")
    page.wait_for_load_state("networkidle")
    return _frame(page)


@pytest.mark.parametrize("path", FRAMED)
def test_a_cross_origin_page_cannot_frame_the_gateways_pages(
    strict: procs.Server, framer: Framer, browser: Browser, figures: Figures, path: str
) -> None:
    page = _open(browser, strict)
    try:
        frame = _load_framer(framer, page, strict, path)
        figures.add("hostile inputs tried")
        assert not _rendered(frame, strict), (path, frame.url)
    finally:
        page.context.close()


@pytest.mark.parametrize("path", FRAMED)
def test_embed_origins_let_that_origin_frame_visitor_pages_only(
    embedding: procs.Server, framer: Framer, browser: Browser, path: str
) -> None:
    page = _open(browser, embedding)
    try:
        frame = _load_framer(framer, page, embedding, path)
        console = "/admin/" in path
        assert _rendered(frame, embedding) is not console, (path, frame.url)
    finally:
        page.context.close()


# path -> (a selector on the page, a CSS property of it, the value its inline style sets)
STYLED = {
    "/_privacy/preferences": ("body", "max-width", "832px"),  # 52rem
    "/_privacy/my-data?format=html": ("body", "max-width", "960px"),  # 60rem
    "/_privacy/my-data/delete": ("body", "max-width", "960px"),
    "/_privacy/admin/login": ("body", "font-family", None),  # console.css, a style sheet
    # The proxy's 400 page (32rem): a path that resolves into the prefix.
    "/a/..%2F_privacy/x": ("body", "max-width", "512px"),
}


@pytest.mark.parametrize("path", sorted(STYLED))
def test_pages_render_styled_without_a_csp_violation(
    strict: procs.Server, browser: Browser, path: str
) -> None:
    page = _open(browser, strict)
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    try:
        response = page.goto(strict.url + path, wait_until="load")
        assert response is not None
        assert "frame-ancestors 'none'" in (response.header_value("content-security-policy") or "")
        selector, prop, expected = STYLED[path]
        value = page.evaluate(
            "([s, p]) => getComputedStyle(document.querySelector(s)).getPropertyValue(p)",
            [selector, prop],
        )
        if expected is not None:
            assert value == expected, (path, prop, value)
        page.wait_for_load_state("networkidle")
        assert violations == [], violations
    finally:
        page.context.close()
