"""Prior blocking end to end, in every URL position: a real gateway in front of an upstream that
answers exact bytes, and headless Chromium counting every request that leaves loopback.

A London visitor who decided nothing (gdpr) loads no tracker at all; one who granted analytics
only, and a San Francisco visitor sending GPC, load analytics hosts and nothing of marketing's.
The page puts an analytics and a marketing URL in each position prior blocking covers, and its
response carries `Link` preload fields toward both.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import pytest

from tests import procs
from tests.browser import (
    ANALYTICS_HOSTS,
    MARKS,
    VISITORS,
    granted,
    visitor_context,
    visitors_config,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = MARKS

#: Each position, `{u}` the URL (HTML-attribute-safe: no quotes, no spaces).
POSITIONS = {
    "script": "<script src={u}></script>",
    "iframe": "<iframe src={u}></iframe>",
    "embed": "<embed src={u}>",
    "object": "<object data={u}></object>",
    "img": "<img src={u} alt=x>",
    "srcset": "<img srcset='{u} 1x' alt=x>",
    "image": "<image src={u}>",
    "input": "<input type=image src={u} alt=x>",
    "picture": "<picture><source srcset='{u} 1x'><img src=/no.png alt=x></picture>",
    "video-src": "<video src={u} preload=auto></video>",
    "poster": "<video poster={u}></video>",
    "track": "<video src=/v.mp4><track default kind=captions src={u}></video>",
    "audio": "<audio src={u} preload=auto></audio>",
    "preload": "<link rel=preload as=script href={u}>",
    "stylesheet": "<link rel=stylesheet href={u}>",
    "modulepreload": "<link rel=modulepreload href={u}>",
    "prefetch": "<link rel=prefetch href={u}>",
    "imagesrcset": "<link rel=preload as=image imagesrcset='{u} 1x'>",
    "background": "<table background={u} width=50 height=50><tr><td>x</td></tr></table>",
    "td-background": "<table><tr><td background={u} width=50 height=50>x</td></tr></table>",
    "svg-image": "<svg width=20 height=20><image href={u} width=20 height=20 /></svg>",
    "svg-xlink": "<svg width=20 height=20><image xlink:href={u} width=20 height=20 /></svg>",
    "svg-script": "<svg><script href={u}></script></svg>",
    "style-attr": "<div style='width:20px;height:20px;background-image:url({u})'></div>",
    "image-set": "<div style='width:20px;height:20px;background-image:image-set(\"{u}\" 1x)'>"
    "</div>",
    "style-import": "<style>@import url({u});</style>",
    "style-url": "<style>.p-{n}{{width:20px;height:20px;background:url({u})}}</style>"
    "<div class=p-{n}></div>",
    "srcdoc": "<iframe srcdoc='<img src={u}>'></iframe>",
    "data-frame": "<iframe src='data:text/html,%3Cimg%20src%3D{u}%3E'></iframe>",
}


def _page() -> bytes:
    parts = []
    for n, (name, markup) in enumerate(POSITIONS.items()):
        for host in ("static.hotjar.com", "www.facebook.com"):
            parts.append(markup.format(u=f"https://{host}/{name}", n=f"{n}-{host[:3]}"))
    # Navigations: a refresh to a marketing host (to an analytics one it would leave the page
    # for a granted visitor) and pinging links the test clicks (a fragment link pings too).
    head = '<meta http-equiv=refresh content="0; url=https://www.facebook.com/refresh">'
    ping = (
        "<a class=pinging href=#a ping=https://www.facebook.com/ping>one</a> "
        "<a class=pinging href=#b ping='/local https://static.hotjar.com/ping'>two</a>"
    )
    return (
        "<!doctype html><html><head><title>Every position</title>"
        + head
        + "</head><body>"
        + ping
        + "<h1>Shop</h1>"
        + "".join(parts)
        + "</body></html>"
    ).encode()


def _raw(body: bytes, fields: list[str], status: str = "200 OK") -> bytes:
    head = [f"HTTP/1.1 {status}", "Content-Type: text/html; charset=utf-8", *fields]
    head += [f"Content-Length: {len(body)}", "Connection: close"]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


LINKS = [
    "Link: <https://www.googletagmanager.com/link-preload.js>; rel=preload; as=script",
    "Link: <https://connect.facebook.net/link-preload.js>; rel=preload; as=script, </ok.css>;"
    ' rel=preload; as=style; title="a, b"',
    "Link: <https://www.facebook.com/link-prefetch>; rel=prefetch",
]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[procs.Server]:
    pages = tmp_path_factory.mktemp("pages")
    (pages / "page").write_bytes(_raw(_page(), LINKS))
    (pages / "other").write_bytes(_raw(b"<!doctype html><title>other</title>", []))
    for status in STATUSES:
        fields = LINKS + (["Location: /other"] if status.startswith("3") else [])
        body = b"" if status.startswith("304") else b"<p>x</p>"  # RFC 9110 §15.4.5: no content
        (pages / status[:3]).write_bytes(_raw(body, fields, status))
    with procs.start_raw_upstream(pages) as upstream:
        path = visitors_config(tmp_path_factory.mktemp("gateway"), upstream.url)
        with procs.start_gateway(path) as server:
            yield server


STATUSES = ["301 Moved Permanently", "304 Not Modified", "404 Not Found", "503 Unavailable"]


@pytest.mark.parametrize("name", ["page", *(s[:3] for s in STATUSES)])
def test_link_fields_toward_blocked_hosts_are_dropped(gateway: procs.Server, name: str) -> None:
    answer = httpx.get(f"{gateway.url}/{name}", timeout=10)
    assert answer.status_code == (200 if name == "page" else int(name))
    assert answer.headers.get_list("link") == ['</ok.css>; rel=preload; as=style; title="a, b"']


def _visit(browser: Browser, gateway: procs.Server, visitor: str) -> list[str]:
    """Load the page as `visitor`, click its pinging links; every URL requested off loopback."""
    with visitor_context(browser, gateway.url, visitor) as (context, leaked):
        page = context.new_page()
        page.goto(f"{gateway.url}/page")
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(300)
        assert page.url.endswith("/page")  # the refresh did not take the visitor away
        for link in page.locator(".pinging").all():
            link.click()
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(300)
    return leaked


@pytest.mark.parametrize("visitor", VISITORS)
def test_a_visitor_loads_only_what_was_granted(
    gateway: procs.Server, browser: Browser, visitor: str
) -> None:
    leaked = _visit(browser, gateway, visitor)
    assert [url for url in leaked if not granted(visitor, urlsplit(url).hostname or "")] == []
    if visitor == "rejected":
        assert leaked == []
        return
    # Each position does load what is granted, so the test above is not passing vacuously
    # (the track's video is missing, so Chromium never asks for its captions).
    paths = {urlsplit(url).path.strip("/") for url in leaked}
    assert (set(POSITIONS) - {"track"}) | {"link-preload.js", "ping"} <= paths


#: Positions the activation script brings back without a reload (the rest, a `<style>`
#: element, the inside of a srcdoc or data: frame, load from the next page on; a track whose
#: video is missing never loads).
RESTORED_LIVE = set(POSITIONS) - {"style-import", "style-url", "srcdoc", "data-frame", "track"}


def test_granting_analytics_on_the_page_restores_what_was_parked(
    gateway: procs.Server, browser: Browser
) -> None:
    with visitor_context(browser, gateway.url, "rejected") as (context, leaked):
        page = context.new_page()
        page.goto(f"{gateway.url}/page")
        page.wait_for_load_state("networkidle")
        assert leaked == []
        # What the banner does after its post: the server's answer says what to activate.
        page.evaluate(
            "() => window.consentgate.post({purposes: {analytics: true}})"
            ".then(window.consentgate.apply)"
        )
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(500)
    hosts = {urlsplit(url).hostname for url in leaked}
    assert hosts <= ANALYTICS_HOSTS
    paths = {urlsplit(url).path.strip("/") for url in leaked}
    assert sorted(RESTORED_LIVE - paths) == []
