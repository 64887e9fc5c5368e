"""The CSP wall in Chromium (real gateway and upstream processes).

A page's inline script (allowed by the shop's nonce) builds a Facebook pixel and a Google
Analytics script at run time, which prior blocking cannot see in the markup. Under
`csp.mode: enforce` the browser refuses the pixel (and reports it) for every visitor: one from
London who decided nothing, one who granted analytics only, one from San Francisco sending GPC;
the analytics script loads for the latter two only. What rewriting does not reach (SVG `mask`,
SMIL, an SVG `<style>`, a `javascript:` frame, a first-party stylesheet's `@import`) loads
nothing under `enforce`. Under `report-only` the pixel loads and is reported. Every
non-loopback request is answered by a local handler and counted. CSP blocks in the renderer
before a request is issued (verified here: the blocked host never reaches the handler), so
what is counted is what the policies allowed.

Reports come by `report-uri`: these pages are plain http, where the gateway names no
`report-to` (with one, Chromium ignores `report-uri` and delivers Reporting API reports only for
https pages: none arrived from http loopback within minutes). The Reporting API format has its
own tests in test_csp_report_api.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests import procs
from tests.browser import MARKS, VISITORS, load, visitor_context, visitors_config

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = MARKS

NONCE = "Sh0pN0nce42"
SHOP_CSP = f"object-src 'none'; script-src 'self' 'nonce-{NONCE}' https:; base-uri 'self'"
PAGE = f"""<!doctype html><html><head><title>Shop</title>
<script nonce="{NONCE}" src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>
<script nonce="{NONCE}" src="https://static.hotjar.com/c/hotjar-1.js"></script>
</head><body><h1>Product</h1>
<img src="https://cdn.shop.example/logo.png" alt="logo">
<script nonce="{NONCE}">
var s = document.createElement("script");
s.src = "https://connect.facebook.net/en_US/fbevents.js";
document.head.appendChild(s);
var a = document.createElement("script");
a.src = "https://www.google-analytics.com/analytics.js";
document.head.appendChild(a);
window.inlineRan = true;
</script>
</body></html>
""".encode()
PLAIN = b"""<!doctype html><html><head><title>Plain</title></head><body><main><h1>Hi</h1></main>
</body></html>"""
SHOP = b"""<!doctype html><html><head><title>Shop</title>
<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>
</head><body><main><h1>Hi</h1></main></body></html>"""
#: Markup that loads a marketing tracker where rewriting the page does not reach it (README,
#: "Known limits"): only the policy stops these.
M = "https://www.facebook.com"
UNREACHED = f"""<!doctype html><html><head><title>Unreached</title></head><body>
<svg width=20 height=20><rect mask="url({M}/mask.svg#m)" width=20 height=20 /></svg>
<svg width=20 height=20><image width=20 height=20><set attributeName=href to="{M}/set.png"/>
</image></svg>
<svg width=20 height=20><image width=20 height=20>
<animate attributeName=href values="{M}/animate.png" dur=1s /></image></svg>
<svg width=20 height=20><style>@import url({M}/import.css); rect{{fill:url({M}/fill.svg#g)}}
</style><rect width=20 height=20 /></svg>
<iframe src="javascript:'<img src={M}/javascript.png>'"></iframe>
<link rel=stylesheet href=/shop.css>
</body></html>""".encode()
SHOP_CSS = f"@import url({M}/stylesheet-import.css);".encode()
REPORT_TIMEOUT = 20.0


def raw(body: bytes, *fields: str) -> bytes:
    head = ["HTTP/1.1 200 OK", "Content-Type: text/html; charset=utf-8", *fields,
            f"Content-Length: {len(body)}", "Connection: close"]  # fmt: skip
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[procs.Server]:
    pages = tmp_path_factory.mktemp("pages")
    (pages / "page").write_bytes(raw(PAGE, f"Content-Security-Policy: {SHOP_CSP}"))
    (pages / "plain").write_bytes(raw(PLAIN))
    (pages / "shop").write_bytes(raw(SHOP))
    (pages / "unreached").write_bytes(raw(UNREACHED))
    (pages / "shop.css").write_bytes(raw(SHOP_CSS).replace(b"text/html", b"text/css", 1))
    with procs.start_raw_upstream(pages) as server:
        yield server


def start(
    tmp_path_factory: pytest.TempPathFactory, upstream: procs.Server, csp: dict[str, Any]
) -> Any:
    directory = tmp_path_factory.mktemp("gateway")
    csp = {"essential_hosts": ["cdn.shop.example"], **csp}
    return procs.start_gateway(visitors_config(directory, upstream.url, csp=csp))


@pytest.fixture(scope="module")
def enforcing(
    tmp_path_factory: pytest.TempPathFactory, upstream: procs.Server
) -> Iterator[procs.Server]:
    with start(tmp_path_factory, upstream, {"mode": "enforce"}) as server:
        yield server


@pytest.fixture(scope="module")
def reporting(
    tmp_path_factory: pytest.TempPathFactory, upstream: procs.Server
) -> Iterator[procs.Server]:
    with start(tmp_path_factory, upstream, {"mode": "report-only"}) as server:
        yield server


def violations(gateway: procs.Server, blocked: str, path: str) -> int:
    """The aggregate's count, read from the metrics."""
    text = httpx.get(f"{gateway.url}/_privacy/metrics", timeout=10).text
    total = 0
    for line in text.splitlines():
        if line.startswith("consentgate_csp_violations_total{") and (
            f'blocked="{blocked}"' in line and f'path="{path}"' in line
        ):
            total += int(line.rsplit(" ", 1)[1])
    return total


def wait_for_report(gateway: procs.Server, blocked: str, path: str, above: int = 0) -> int:
    """The count once it passes `above`, or the last count read at the deadline."""
    deadline = time.monotonic() + REPORT_TIMEOUT
    found = violations(gateway, blocked, path)
    while found <= above and time.monotonic() < deadline:
        time.sleep(0.2)
        found = violations(gateway, blocked, path)
    return found


def visit(browser: Browser, gateway: procs.Server, name: str, visitor: str) -> dict[str, Any]:
    """Load a page as `visitor`; what left the machine (by host) and what the page saw."""
    with visitor_context(browser, gateway.url, visitor) as (context, off_origin):
        page = context.new_page()
        page.goto(f"{gateway.url}/{name}")
        page.wait_for_load_state("networkidle")
        seen = {
            "inline_ran": page.evaluate("window.inlineRan === true"),
            "activation": page.evaluate("typeof window.consentgate === 'object'"),
            "banner": page.locator("#consentgate-banner").count(),
        }
        if seen["banner"]:
            # The banner's own script (allowed by its hash) posts the choice with fetch.
            page.get_by_role("button", name="Reject all").click()
            page.locator("#consentgate-banner").wait_for(state="detached")
            seen["banner_left"] = True
    return {"hosts": [urlsplit(url).hostname for url in off_origin], **seen}


@pytest.mark.parametrize("visitor", VISITORS)
def test_enforce_loads_only_granted_and_essential_hosts(
    enforcing: procs.Server, browser: Browser, visitor: str
) -> None:
    reported = violations(enforcing, "connect.facebook.net", "/page")
    seen = visit(browser, enforcing, "page", visitor)
    assert seen["inline_ran"]  # the shop's nonce is in our policy too
    # The pixel the inline script built never left the browser, nor, for the visitor who
    # granted nothing, the analytics script it built (the tags in the markup prior blocking
    # made inert); the essential host loads for everyone.
    granted_hosts = set() if visitor == "rejected" else {
        "www.googletagmanager.com", "static.hotjar.com", "www.google-analytics.com",
    }  # fmt: skip
    assert sorted(seen["hosts"]) == sorted(granted_hosts | {"cdn.shop.example"})
    assert wait_for_report(enforcing, "connect.facebook.net", "/page", reported) > reported


@pytest.mark.parametrize("visitor", VISITORS)
def test_enforce_stops_what_rewriting_does_not_reach(
    enforcing: procs.Server, upstream: procs.Server, browser: Browser, visitor: str
) -> None:
    # Each is live: the page straight from the upstream loads all of them.
    direct = {urlsplit(url).path for url in load(browser, upstream.url, "/unreached")}
    assert direct == {
        "/mask.svg", "/set.png", "/animate.png", "/fill.svg", "/import.css", "/javascript.png",
        "/stylesheet-import.css",
    }  # fmt: skip
    assert load(browser, enforcing.url, "/unreached", visitor) == []


def test_report_only_blocks_nothing_and_reports(reporting: procs.Server, browser: Browser) -> None:
    reported = violations(reporting, "connect.facebook.net", "/page")
    seen = visit(browser, reporting, "page", "analytics-only")
    assert "connect.facebook.net" in seen["hosts"]
    assert wait_for_report(reporting, "connect.facebook.net", "/page", reported) > reported


def test_the_banner_works_under_enforce_without_unsafe_inline(
    enforcing: procs.Server, browser: Browser
) -> None:
    seen = visit(browser, enforcing, "plain", "rejected")
    assert seen["banner"] == 1 and seen["activation"] and seen["banner_left"]
    assert violations(enforcing, "inline", "/plain") == 0


def test_the_shops_policy_stays_next_to_ours(enforcing: procs.Server) -> None:
    answer = httpx.get(f"{enforcing.url}/page", timeout=10)
    assert answer.headers.get_list("content-security-policy")[0] == SHOP_CSP
    ours = answer.headers.get_list("content-security-policy")[1]
    assert "connect.facebook.net" not in ours and f"'nonce-{NONCE}'" in ours
    assert "report-uri /_privacy/csp-report" in ours


def test_a_grant_in_the_banner_reloads_the_page_under_enforce(
    enforcing: procs.Server, browser: Browser
) -> None:
    """The served policy allowed nothing of analytics; in place activation would be refused,
    so the activation script reloads and the next policy allows what was granted."""
    with visitor_context(browser, enforcing.url, "rejected") as (context, off_origin):
        page = context.new_page()
        page.goto(f"{enforcing.url}/shop")
        page.wait_for_load_state("networkidle")
        assert off_origin == []
        with page.expect_navigation():
            page.get_by_role("button", name="Accept all").click()
        page.wait_for_load_state("networkidle")
        assert page.locator("#consentgate-banner").count() == 0
    hosts = [urlsplit(url).hostname for url in off_origin]
    assert hosts == ["www.googletagmanager.com"]
    assert violations(enforcing, "www.googletagmanager.com", "/shop") == 0
