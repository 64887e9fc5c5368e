"""Prior blocking end to end, in every URL position: a real gateway in front of an upstream that
answers exact bytes, and headless Chromium counting every request that leaves loopback.

A fresh visitor (unknown location: gdpr, nothing granted) loads no tracker at all; a visitor
who granted analytics only loads analytics hosts and nothing of marketing's. The page puts an
analytics and a marketing URL in each position prior blocking covers, and its response carries
`Link` preload fields toward both.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from tests import procs
from tests.browser import MARKS, browser

__all__ = ["browser"]  # the module-scoped fixture
pytestmark = MARKS

ANALYTICS_HOSTS = {"www.googletagmanager.com", "www.google-analytics.com", "static.hotjar.com"}
MARKETING_HOSTS = {"connect.facebook.net", "www.facebook.com", "analytics.tiktok.com"}

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
        directory = tmp_path_factory.mktemp("gateway")
        path = procs.write_config(directory, upstream=upstream.url)
        data = yaml.safe_load(path.read_text())
        data.update(procs.demo_purposes())
        path.write_text(yaml.safe_dump(data, allow_unicode=True))
        with procs.start_gateway(path) as server:
            yield server


STATUSES = ["301 Moved Permanently", "304 Not Modified", "404 Not Found", "503 Unavailable"]


@pytest.mark.parametrize("name", ["page", *(s[:3] for s in STATUSES)])
def test_link_fields_toward_blocked_hosts_are_dropped(gateway: procs.Server, name: str) -> None:
    answer = httpx.get(f"{gateway.url}/{name}", timeout=10)
    assert answer.status_code == (200 if name == "page" else int(name))
    assert answer.headers.get_list("link") == ['</ok.css>; rel=preload; as=style; title="a, b"']


def _visit(browser: object, gateway: procs.Server, grant: dict[str, bool] | None) -> list[str]:
    """Load the page as a fresh visitor (after granting `grant`, if any); return every URL
    requested off loopback."""
    from playwright.sync_api import Browser, Route

    assert isinstance(browser, Browser)
    leaked: list[str] = []

    def intercept(route: Route) -> None:
        url = route.request.url
        if url.startswith(gateway.url):
            route.continue_()
            return
        leaked.append(url)
        kind = route.request.resource_type
        if kind in ("document", "stylesheet", "script"):
            body = {"document": "<p>tracker</p>", "stylesheet": "", "script": ""}[kind]
            route.fulfill(status=200, body=body, content_type=f"text/{_type(kind)}")
        else:
            route.fulfill(status=204, body="")

    context = browser.new_context()
    try:
        if grant is not None:
            answer = context.request.post(
                f"{gateway.url}/_privacy/consent",
                data={"purposes": grant},
                headers={"Origin": gateway.url},
            )
            assert answer.ok, answer.text()
            assert [c["name"] for c in context.cookies()] == ["cg_id"]
        context.route("**/*", intercept)
        page = context.new_page()
        page.goto(f"{gateway.url}/page")
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(300)
        assert page.url.endswith("/page")  # the refresh did not take the visitor away
        for link in page.locator(".pinging").all():
            link.click()
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(300)
    finally:
        context.close()
    return leaked


def _type(kind: str) -> str:
    return {"document": "html", "stylesheet": "css", "script": "javascript"}[kind]


def test_a_visitor_who_granted_nothing_loads_no_tracker(
    gateway: procs.Server, browser: object
) -> None:
    assert _visit(browser, gateway, None) == []


def test_a_visitor_who_granted_analytics_loads_only_analytics(
    gateway: procs.Server, browser: object
) -> None:
    leaked = _visit(browser, gateway, {"analytics": True})
    hosts = {urlsplit(url).hostname for url in leaked}
    assert hosts <= ANALYTICS_HOSTS, sorted(
        u for u in leaked if urlsplit(u).hostname in MARKETING_HOSTS
    )
    # Each position does load what is granted, so the test above is not passing vacuously
    # (the track's video is missing, so Chromium never asks for its captions).
    paths = {urlsplit(url).path.strip("/") for url in leaked}
    assert (set(POSITIONS) - {"track"}) | {"link-preload.js", "ping"} <= paths


#: Positions the activation script brings back without a reload (the rest, a `<style>`
#: element, the inside of a srcdoc or data: frame, load from the next page on; a track whose
#: video is missing never loads).
RESTORED_LIVE = set(POSITIONS) - {"style-import", "style-url", "srcdoc", "data-frame", "track"}


def test_granting_analytics_on_the_page_restores_what_was_parked(
    gateway: procs.Server, browser: object
) -> None:
    from playwright.sync_api import Browser, Route

    assert isinstance(browser, Browser)
    leaked: list[str] = []

    def intercept(route: Route) -> None:
        if route.request.url.startswith(gateway.url):
            route.continue_()
        else:
            leaked.append(route.request.url)
            route.fulfill(status=204, body="")

    context = browser.new_context()
    try:
        context.route("**/*", intercept)
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
    finally:
        context.close()
    hosts = {urlsplit(url).hostname for url in leaked}
    assert hosts <= ANALYTICS_HOSTS
    paths = {urlsplit(url).path.strip("/") for url in leaked}
    assert sorted(RESTORED_LIVE - paths) == []
