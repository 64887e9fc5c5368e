"""Trackers hidden from a byte scanner, through a real gateway, in Chromium.

Each page hides a tracker from a scanner that reads HTML more simply than the browser does:
foreign-content breakouts, integration points, raw text that is raw only for HTML elements,
CDATA, an end tag that leaves SVG, a tag longer than the scanner holds, and a late
`<meta charset="iso-2022-jp">` whose escapes turn the bytes of `<!--` into text. A visitor who
decided nothing under gdpr (nothing granted) must load none of them: every request off
loopback is answered here and counted. A control page with an unlisted host proves the count.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml

from tests import procs
from tests.browser import MARKS

pytestmark = MARKS

T = "https://www.googletagmanager.com/t"  # a host the demo lists under analytics
PAD = b"x" * (70 * 1024)  # past the rewriter's 64 KiB bound for one tag


def page(body: bytes, content_type: str = "text/html; charset=utf-8", head: bytes = b"") -> bytes:
    html = b"<!doctype html><html><head>" + head + b"<title>shop</title></head><body>" + body
    html += b"<p>end</p></body></html>"
    fields = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n"
    fields += f"Content-Length: {len(html)}\r\nConnection: close\r\n\r\n"
    return fields.encode("latin-1") + html


def img(n: int) -> bytes:
    return f'<img src="{T}/{n}.gif">'.encode()


PAGES = {
    # HTML §13.2.6.5: `</p>` and `<font color>` break out of SVG, so `<style>` is raw text.
    "breakout": page(
        b"<svg></p><style><!--</style>" + img(1) + b"-->"
        b"<svg><font color=red><style><!--</style>" + img(2) + b"-->"
        b"<math><mi></math><table><svg><b><style><!--</style>" + img(3) + b"-->"
    ),
    # HTML §13.2.6: integration points take HTML content.
    "integration-point": page(
        b"<svg><desc><style><!--</style>" + img(4) + b"--></desc></svg>"
        b"<svg><foreignObject><textarea><!--</textarea>" + img(5) + b"--></foreignObject></svg>"
        b"<math><annotation-xml encoding='text/html'><xmp><!--</xmp>" + img(6) + b"-->"
    ),
    # In SVG `<style>` holds markup; CDATA hides a `<!--` from a scanner reading a bogus
    # comment; an end tag matching an HTML element outside leaves SVG.
    "svg-raw-text": page(
        b"<svg><style><img src='" + T.encode() + b"/7.gif'></style></svg>"
        b"<svg><![CDATA[><!--]]>" + img(8) + b"-->"
        b"<div><svg></div><style><!--</style>" + img(9) + b"-->"
    ),
    # Longer than the scanner holds: followed to its end, or made inert.
    "oversized": page(
        b'<div data-x="<!--' + PAD + b'">' + img(10) + b"<!-- -->"
        b'<img data-pad="' + PAD + b'" src="' + T.encode() + b'/11.gif">'
        b"<style data-pad='" + PAD + b"'><!--</style>" + img(12) + b"-->"
    ),
    # No charset in the header, the <meta> past the 1,024-byte prescan: in ISO-2022-JP the
    # bytes `<!--` after ESC $ B are two kanji and the img after ESC ( B is live.
    "late-charset": page(
        b"\x1b$B<!--\x1b(B" + img(13) + b"-->",
        content_type="text/html",
        head=b"<!--" + b"p" * 1100 + b'--><meta charset="iso-2022-jp">',
    ),
    # With scripting on (Chromium), <noscript> is raw text up to the first </noscript.
    "noscript": page(b"<noscript><!--</noscript>" + img(14) + b"-->"),
    "control": page(b'<img src="https://unlisted.example/pixel.gif">'),
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[procs.Server]:
    pages = tmp_path_factory.mktemp("pages")
    for name, response in PAGES.items():
        (pages / name).write_bytes(response)
    with procs.start_raw_upstream(pages) as upstream:
        directory = tmp_path_factory.mktemp("gateway")
        path = procs.write_config(directory, upstream=upstream.url)
        data = yaml.safe_load(path.read_text())
        data.update(procs.demo_purposes())
        path.write_text(yaml.safe_dump(data, allow_unicode=True))
        with procs.start_gateway(path) as server:
            yield server


def requests_off_loopback(gateway: procs.Server, browser: object, name: str) -> list[str]:
    from playwright.sync_api import Browser, Route

    assert isinstance(browser, Browser)
    seen: list[str] = []

    def intercept(route: Route) -> None:
        url = route.request.url
        if url.startswith(gateway.url):
            route.continue_()
        else:
            seen.append(url)
            route.fulfill(status=200, body=b"GIF89a", content_type="image/gif")

    context = browser.new_context()  # no cookie: under gdpr nothing is granted
    try:
        tab = context.new_page()
        tab.route("**/*", intercept)
        tab.goto(f"{gateway.url}/{name}")
        tab.wait_for_load_state("networkidle")
    finally:
        context.close()
    return seen


@pytest.mark.parametrize("name", sorted(set(PAGES) - {"control"}))
def test_chromium_loads_no_hidden_tracker(
    gateway: procs.Server, browser: object, name: str
) -> None:
    assert requests_off_loopback(gateway, browser, name) == []


def test_the_count_sees_an_unlisted_host(gateway: procs.Server, browser: object) -> None:
    assert requests_off_loopback(gateway, browser, "control") == [
        "https://unlisted.example/pixel.gif"
    ]
