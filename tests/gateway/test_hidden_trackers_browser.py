"""Trackers hidden from a byte scanner, through a real gateway, in Chromium.

Each page hides a tracker from a scanner that reads HTML more simply than the browser does:
foreign-content breakouts, integration points, raw text that is raw only for HTML elements,
CDATA, an end tag that leaves SVG, a tag longer than the scanner holds, and a late
`<meta charset="iso-2022-jp">` whose escapes turn the bytes of `<!--` into text. Each hides
an analytics and a marketing tracker. Three visitors: one from London who decided nothing
(gdpr) loads none of them; one who granted analytics only and one from San Francisco sending
GPC load no marketing tracker, and the analytics trackers that Chromium finds live in the
upstream's own page. Every request off loopback is answered here and counted; a control page
with an unlisted host proves the count.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from tests import procs
from tests.browser import MARKS, VISITORS, granted, load, visitors_config

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = MARKS

T = "https://www.googletagmanager.com/t"  # a host the demo lists under analytics
M = "https://www.facebook.com/t"  # and one it lists under marketing
PAD = b"x" * (160 * 1024)  # past the 64 KiB bound for one tag, in slices of up to 32 KiB


def page(body: bytes, content_type: str = "text/html; charset=utf-8", head: bytes = b"") -> bytes:
    html = b"<!doctype html><html><head>" + head + b"<title>shop</title></head><body>" + body
    html += b"<p>end</p></body></html>"
    fields = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n"
    fields += f"Content-Length: {len(html)}\r\nConnection: close\r\n\r\n"
    return fields.encode("latin-1") + html


def img(n: int) -> bytes:
    """Two hidden trackers: one of analytics, one of marketing."""
    return f'<img src="{T}/{n}.gif"><img src="{M}/{n}.gif">'.encode()


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
        b"<svg><style><img src='" + T.encode() + b"/7.gif'><img src='" + M.encode() + b"/7.gif'>"
        b"</style></svg>"
        b"<svg><![CDATA[><!--]]>" + img(8) + b"-->"
        b"<div><svg></div><style><!--</style>" + img(9) + b"-->"
    ),
    # Longer than the scanner holds: followed to its end, or made inert.
    "oversized": page(
        b'<div data-x="<!--' + PAD + b'">' + img(10) + b"<!-- -->"
        b'<img data-pad="' + PAD + b'" src="' + T.encode() + b'/11.gif">'
        b'<img data-pad="' + PAD + b'" src="' + M.encode() + b'/11.gif">'
        b"<style data-pad='" + PAD + b"'><!--</style>" + img(12) + b"-->"
    ),
    # No charset in the header, the <meta> past the 1,024-byte prescan: in ISO-2022-JP the
    # bytes `<!--` after ESC $ B are two kanji and the img after ESC ( B is live.
    "late-charset": page(
        b"\x1b$B<!--\x1b(B" + img(13) + b"-->",
        content_type="text/html",
        head=b"<!--" + b"p" * 1100 + b'--><meta charset="iso-2022-jp">',
    ),
    # The same through `http-equiv`, and ESC $ B turning `<style/>` into kanji: the trackers
    # after it are raw text only for a scanner that missed the charset.
    "late-charset-http-equiv": page(
        b"\x1b$B<style/>\x1b(B" + img(15) + b"</style>",
        content_type="text/html",
        head=b"<!--" + b"p" * 1100 + b'--><meta http-equiv="Content-Type" content="text/html;'
        b' charset=iso-2022-jp">',
    ),
    # With scripting on (Chromium), <noscript> is raw text up to the first </noscript.
    "noscript": page(b"<noscript><!--</noscript>" + img(14) + b"-->"),
    "control": page(b'<img src="https://unlisted.example/pixel.gif">'),
}
#: Granted trackers the browser would load from the upstream's page but not from the gateway's,
#: where the gateway makes the page say one thing instead of guessing the browser's reading.
INERT = {
    # A tag a stage wants that is too long to hold loses its attributes, granted URL and all.
    "oversized": {f"{T}/11.gif"},
    # The gateway names the charset it read in the header, which outranks the late <meta>:
    # the ESC bytes are text, so `<!--` opens a comment and `<style/>` raw text.
    "late-charset": {f"{T}/13.gif"},
    "late-charset-http-equiv": {f"{T}/15.gif"},
    # A `</noscript` that a markup reading has in a comment becomes text, so everything after
    # `<noscript>` stays its raw text.
    "noscript": {f"{T}/14.gif"},
}


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[procs.Server]:
    pages = tmp_path_factory.mktemp("pages")
    for name, response in PAGES.items():
        (pages / name).write_bytes(response)
    with procs.start_raw_upstream(pages) as server:
        yield server


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, upstream: procs.Server
) -> Iterator[procs.Server]:
    path = visitors_config(tmp_path_factory.mktemp("gateway"), upstream.url)
    with procs.start_gateway(path) as server:
        yield server


@pytest.mark.parametrize("visitor", VISITORS)
@pytest.mark.parametrize("name", sorted(set(PAGES) - {"control"}))
def test_chromium_loads_no_hidden_tracker_that_was_not_granted(
    gateway: procs.Server, upstream: procs.Server, browser: Browser, name: str, visitor: str
) -> None:
    loaded = load(browser, gateway.url, f"/{name}", visitor)
    assert [url for url in loaded if not granted(visitor, urlsplit(url).hostname or "")] == []
    if visitor == "rejected":
        assert loaded == []
        return
    # A granted tracker loads where the browser's own reading of the page has it live (the
    # page straight from the upstream), except where the gateway had to make it inert.
    direct = load(browser, upstream.url, f"/{name}")
    live = sorted(url for url in direct if url.startswith(T))
    # The page does hide live trackers of both purposes (in pairs), or this proves nothing.
    assert live and sorted(url.replace(M, T) for url in direct if url.startswith(M)) == live
    assert sorted(loaded) == sorted(set(live) - INERT.get(name, set()))


def test_the_count_sees_an_unlisted_host(gateway: procs.Server, browser: Browser) -> None:
    assert load(browser, gateway.url, "/control") == ["https://unlisted.example/pixel.gif"]
