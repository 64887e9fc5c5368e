"""An operator with their own shop: `init` → `check` → `run`, then a real browser.

The shop is not the demo: `tests/upstream_app.py` serves a page carrying Google Analytics'
gtag.js, the Meta pixel's fbevents.js and its `tr` image pixel, unmarked, as shops paste
them. The config is exactly what `consentgate init` wrote; the only thing added next to it is
what an operator downloads, a city database at the path the config names (here the demo's,
which places 81.2.69.160 in London and 198.51.100.7 in San Francisco). The starter config
trusts loopback as its TLS terminator, so `X-Forwarded-For` plays the visitor.

Every request the browser makes off loopback is answered by a local handler (the machine has
no internet) and recorded, so "zero tracker requests" means the browser never asked for one;
the San Francisco visitor and the London visitor after "Accept all" show the same page does
make those requests when consent allows, i.e. the count can fail.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from gateway.demo.geodb import build_geo_database
from policies.starter import GEO_DATABASE
from tests import procs
from tests.browser import MARKS, host_of, off_loopback
from tests.gateway.test_commands import run_cli

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Route

pytestmark = MARKS
Visitor = Callable[[str], "Visit"]

LONDON = "81.2.69.160"
SAN_FRANCISCO = "198.51.100.7"
BANNER = "#consentgate-banner"
GOOGLE = frozenset({"www.googletagmanager.com", "www.google-analytics.com"})
FACEBOOK = frozenset({"connect.facebook.net", "www.facebook.com"})
# Any Google Analytics, Tag Manager or Facebook host, including subdomains not named above.
TRACKER = re.compile(r"(^|\.)(google-analytics\.com|googletagmanager\.com|facebook\.(com|net))$")

# As a shop writes them: Google's gtag.js snippet, the Meta pixel's script and image pixel.
SHOP_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Corner Shop</title>
<!-- Google tag (gtag.js) -->
<script async src="https://www.googletagmanager.com/gtag/js?id=G-CORNER123"></script>
<script>
  window.dataLayer = window.dataLayer || [];
  function gtag(){dataLayer.push(arguments);}
  gtag('js', new Date());
  gtag('config', 'G-CORNER123');
</script>
<!-- Meta Pixel Code -->
<script async src="https://connect.facebook.net/en_US/fbevents.js"></script>
<script>
  window.fbq = window.fbq || function(){ (window.fbq.q = window.fbq.q || []).push(arguments); };
  fbq('init', '1234567890');
  fbq('track', 'PageView');
</script>
<!-- End Meta Pixel Code -->
</head>
<body>
<h1>Corner Shop</h1>
<p class="tagline">Umbrellas, boots and good coffee.</p>
<img height="1" width="1" style="display:none" alt=""
     src="https://www.facebook.com/tr?id=1234567890&ev=PageView&noscript=1">
</body>
</html>
"""


@dataclass
class Visit:
    """One visitor's browser context and every off-loopback URL it asked for."""

    context: BrowserContext
    page: Page
    offsite: list[str] = field(default_factory=list)

    def hosts(self) -> set[str]:
        return {host_of(url) for url in self.offsite}

    def trackers(self) -> list[str]:
        return [url for url in self.offsite if TRACKER.search(host_of(url))]


@pytest.fixture(scope="module")
def shop() -> Iterator[procs.Server]:
    with procs.start_upstream() as server:
        answer = httpx.put(
            f"{server.url}/__serve/home",
            content=SHOP_PAGE.encode(),
            headers={"Content-Type": "text/html; charset=utf-8"},
        )
        assert answer.status_code in (200, 201, 204), answer.text
        yield server


def init_and_check(directory: Path, upstream: str) -> Path:
    """`consentgate init --upstream URL --out DIR/policies.yaml`, then `check` must pass."""
    config = directory / "policies.yaml"
    written = run_cli("init", "--upstream", upstream, "--out", str(config))
    assert written.returncode == 0, written.stderr
    checked = run_cli("check", "--config", str(config))
    assert checked.returncode == 0, checked.stdout
    assert checked.stdout.startswith(f"ok: {config} (sha256 ")
    return config


@contextlib.contextmanager
def run_gateway(config: Path) -> Iterator[procs.Server]:
    """`python -m gateway run --config CONFIG --port P` (the file itself says 8080)."""
    port = procs.free_port()
    argv = [sys.executable, "-m", "gateway", "run", "--config", str(config), "--port", str(port)]
    with procs.serve("gateway", argv, port, "/_privacy/healthz") as server:
        yield server


def regime(gateway: procs.Server, ip: str) -> str:
    answer = httpx.get(f"{gateway.url}/_privacy/consent", headers={"X-Forwarded-For": ip})
    assert answer.status_code == 200, answer.text
    value: str = answer.json()["regime"]
    return value


def test_without_a_geo_database_every_visitor_gets_the_strictest_regime(
    shop: procs.Server, tmp_path: Path
) -> None:
    config = init_and_check(tmp_path, shop.url)
    assert not (tmp_path / GEO_DATABASE).exists()
    with run_gateway(config) as gateway:
        assert regime(gateway, LONDON) == "gdpr"
        # Fail closed: unknown location, so even a US visitor is asked first.
        assert regime(gateway, SAN_FRANCISCO) == "gdpr"
        page = httpx.get(f"{gateway.url}/served/home", headers={"X-Forwarded-For": LONDON})
        assert page.status_code == 200 and "Corner Shop" in page.text
        assert 'id="consentgate-banner"' in page.text
        assert '<script async src="https://www.googletagmanager.com' not in page.text
        assert '<script async src="https://connect.facebook.net' not in page.text
    # A fresh folder was enough: the store and the keys were created next to the config.
    assert {"consentgate.db", "consentgate-master.key", "audit-signing.key"} <= {
        p.name for p in tmp_path.iterdir()
    }


@pytest.fixture(scope="module")
def gateway(shop: procs.Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[procs.Server]:
    directory = tmp_path_factory.mktemp("operator")
    config = init_and_check(directory, shop.url)
    # What the config's comment asks the operator to download, at the path it names.
    build_geo_database(directory / GEO_DATABASE)
    with run_gateway(config) as server:
        yield server


@pytest.fixture
def visit(gateway: procs.Server, browser: Browser) -> Iterator[Visitor]:
    contexts: list[BrowserContext] = []

    def open_visit(ip: str) -> Visit:
        context = browser.new_context(
            base_url=gateway.url, extra_http_headers={"X-Forwarded-For": ip}
        )
        contexts.append(context)
        context.set_default_timeout(15_000)
        opened = Visit(context, context.new_page())

        def offsite(route: Route) -> None:
            opened.offsite.append(route.request.url)
            route.fulfill(status=204, body="")

        context.route(off_loopback(), offsite)
        return opened

    yield open_visit
    for context in contexts:
        context.close()


def load(page: Page) -> None:
    answer = page.goto("/served/home", wait_until="load")
    assert answer is not None and answer.status == 200
    # Late requests (async scripts, pixels) have had their chance once the network is idle.
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text() == "Corner Shop"


def test_geo_database_places_the_visitors(gateway: procs.Server) -> None:
    assert regime(gateway, LONDON) == "gdpr"
    assert regime(gateway, SAN_FRANCISCO) == "us-optout"


def test_london_visitor_loads_no_google_or_facebook_tracker(visit: Visitor) -> None:
    v = visit(LONDON)
    load(v.page)
    assert v.page.locator(BANNER).is_visible()
    assert v.trackers() == []
    assert v.offsite == []  # nothing else off-site either: the page has no other third party


def test_the_same_page_loads_the_trackers_where_consent_allows(visit: Visitor) -> None:
    # us-optout: analytics and advertising are on until the visitor opts out.
    v = visit(SAN_FRANCISCO)
    load(v.page)
    assert v.page.locator(BANNER).count() == 0
    assert GOOGLE & v.hosts() and FACEBOOK <= v.hosts(), v.offsite
    assert any("/tr?id=1234567890" in url for url in v.offsite)


def test_london_after_accept_all_loads_the_trackers(visit: Visitor) -> None:
    v = visit(LONDON)
    load(v.page)
    assert v.trackers() == []
    banner = v.page.locator(BANNER)
    with v.page.expect_response(lambda r: r.request.method == "POST") as posted:
        banner.get_by_role("button", name="Accept all", exact=True).click()
    assert posted.value.url.endswith("/_privacy/consent")
    banner.wait_for(state="detached")
    load(v.page)
    assert v.page.locator(BANNER).count() == 0
    assert "www.googletagmanager.com" in v.hosts() and FACEBOOK <= v.hosts(), v.offsite
