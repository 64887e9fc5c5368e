"""The CSP wall in Chromium (real gateway and upstream processes).

A visitor who granted analytics loads a page whose inline script (allowed by the shop's nonce)
builds a Facebook pixel at run time: prior blocking cannot see it in the markup, the browser
refuses it under `csp.mode: enforce` and reports it; under `report-only` it loads and is
reported. Every non-loopback request is answered by a local handler and counted. CSP blocks
in the renderer before a request is issued (verified here: the blocked host never reaches
the handler), so what is counted is what the policies allowed.

Reports come by `report-uri`: these pages are plain http, where the gateway names no
`report-to` (with one, Chromium ignores `report-uri` and delivers Reporting API reports only for
https pages: none arrived from http loopback within minutes). The Reporting API format has its
own tests in test_csp_report_api.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from tests import procs
from tests.browser import MARKS

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
window.inlineRan = true;
</script>
</body></html>
""".encode()
PLAIN = b"""<!doctype html><html><head><title>Plain</title></head><body><main><h1>Hi</h1></main>
</body></html>"""
SHOP = b"""<!doctype html><html><head><title>Shop</title>
<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>
</head><body><main><h1>Hi</h1></main></body></html>"""
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
    with procs.start_raw_upstream(pages) as server:
        yield server


def start(
    tmp_path_factory: pytest.TempPathFactory, upstream: procs.Server, csp: dict[str, Any]
) -> Any:
    directory = tmp_path_factory.mktemp("gateway")
    path = procs.write_config(directory, upstream=upstream.url)
    data = yaml.safe_load(path.read_text())
    data.update(procs.demo_purposes())
    data["csp"] = {"essential_hosts": ["cdn.shop.example"], **csp}
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return procs.start_gateway(path)


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


def grant_analytics(gateway: procs.Server) -> str:
    """A visitor who granted analytics only: their cookie."""
    answer = httpx.post(
        f"{gateway.url}/_privacy/consent",
        json={"purposes": {"analytics": True, "marketing": False, "personalization": False}},
        headers={"Origin": gateway.url},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return answer.cookies["cg_id"]


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


def wait_for_report(gateway: procs.Server, blocked: str, path: str) -> int:
    deadline = time.monotonic() + REPORT_TIMEOUT
    while time.monotonic() < deadline:
        found = violations(gateway, blocked, path)
        if found:
            return found
        time.sleep(0.2)
    return 0


def visit(browser: Any, gateway: procs.Server, name: str, cookie: str | None) -> dict[str, Any]:
    """Load a page; what left the machine (by host) and what the page saw."""
    from playwright.sync_api import Browser, Route

    assert isinstance(browser, Browser)
    hosts: list[str] = []

    def intercept(route: Route) -> None:
        url = route.request.url
        if url.startswith(gateway.url):
            route.continue_()
        else:
            hosts.append(url.split("/")[2])
            route.fulfill(status=200, body="", content_type="application/javascript")

    context = browser.new_context()
    if cookie is not None:
        context.add_cookies([{"name": "cg_id", "value": cookie, "url": gateway.url}])
    try:
        page = context.new_page()
        page.route("**/*", intercept)
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
    finally:
        context.close()
    return {"hosts": hosts, **seen}


def test_enforce_loads_only_granted_and_essential_hosts(
    enforcing: procs.Server, browser: Any
) -> None:
    seen = visit(browser, enforcing, "page", grant_analytics(enforcing))
    assert seen["inline_ran"]  # the shop's nonce is in our policy too
    # The pixel the inline script built never left the browser; the rest did.
    assert "connect.facebook.net" not in seen["hosts"]
    assert set(seen["hosts"]) == {
        "www.googletagmanager.com", "static.hotjar.com", "cdn.shop.example",
    }  # fmt: skip
    assert wait_for_report(enforcing, "connect.facebook.net", "/page") >= 1


def test_report_only_blocks_nothing_and_reports(reporting: procs.Server, browser: Any) -> None:
    seen = visit(browser, reporting, "page", grant_analytics(reporting))
    assert "connect.facebook.net" in seen["hosts"]
    assert wait_for_report(reporting, "connect.facebook.net", "/page") >= 1


def test_the_banner_works_under_enforce_without_unsafe_inline(
    enforcing: procs.Server, browser: Any
) -> None:
    seen = visit(browser, enforcing, "plain", None)
    assert seen["banner"] == 1 and seen["activation"] and seen["banner_left"]
    assert violations(enforcing, "inline", "/plain") == 0


def test_the_shops_policy_stays_next_to_ours(enforcing: procs.Server) -> None:
    answer = httpx.get(f"{enforcing.url}/page", timeout=10)
    assert answer.headers.get_list("content-security-policy")[0] == SHOP_CSP
    ours = answer.headers.get_list("content-security-policy")[1]
    assert "connect.facebook.net" not in ours and f"'nonce-{NONCE}'" in ours
    assert "report-uri /_privacy/csp-report" in ours


def test_a_grant_in_the_banner_reloads_the_page_under_enforce(
    enforcing: procs.Server, browser: Any
) -> None:
    """The served policy allowed nothing of analytics; in place activation would be refused,
    so the activation script reloads and the next policy allows what was granted."""
    from playwright.sync_api import Browser, Route

    assert isinstance(browser, Browser)
    hosts: list[str] = []

    def intercept(route: Route) -> None:
        if route.request.url.startswith(enforcing.url):
            route.continue_()
        else:
            hosts.append(route.request.url.split("/")[2])
            route.fulfill(status=200, body="", content_type="application/javascript")

    context = browser.new_context()
    try:
        page = context.new_page()
        page.route("**/*", intercept)
        page.goto(f"{enforcing.url}/shop")
        page.wait_for_load_state("networkidle")
        assert hosts == []
        with page.expect_navigation():
            page.get_by_role("button", name="Accept all").click()
        page.wait_for_load_state("networkidle")
        assert page.locator("#consentgate-banner").count() == 0
    finally:
        context.close()
    assert hosts == ["www.googletagmanager.com"]
    assert violations(enforcing, "www.googletagmanager.com", "/shop") == 0
