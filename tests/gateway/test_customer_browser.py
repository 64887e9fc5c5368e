"""What a customer sees, in a real browser: the banner, blocked embeds, recommendation grids.

Headless Chromium drives the demo shop through the gateway (real processes on loopback);
visitors are played with `X-Forwarded-For`. Off-site requests are recorded, then aborted (the
machine has no internet): a tracker "loads" when the browser asked for it. The demo's home page
carries a marked analytics loader and inline script, a marked marketing pixel, tracker scripts
neutralized by host, and a YouTube frame (marketing).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
import yaml

from tests import procs
from tests.browser import ANALYTICS_HOSTS, DESKTOP, MARKETING_HOSTS, MARKS, YOUTUBE, Visitor
from tests.browser import goto as goto_no_js  # no page-lifetime marker: JavaScript is off
from tests.demo_world import LONDON, SAN_FRANCISCO, DemoWorld

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = MARKS
DOCS = procs.REPO / "docs"
BANNER = "#consentgate-banner"
PLACEHOLDER = ".consentgate-embed"
FRAME = "section.video iframe"


@pytest.fixture(scope="module")
def world(own_demo: DemoWorld) -> DemoWorld:
    return own_demo


def goto(page: Page, path: str) -> None:
    goto_no_js(page, path)
    # A page-lifetime marker: still there later means the page was not reloaded.
    page.evaluate("window.__sameDocument = true")


def same_document(page: Page) -> bool:
    return bool(page.evaluate("window.__sameDocument === true"))


def eventually(page: Page, condition: Callable[[], bool], seconds: float = 10) -> None:
    """Wait (letting the page run) until `condition` holds."""
    for _ in range(int(seconds * 10)):
        if condition():
            return
        page.wait_for_timeout(100)
    assert condition()


def post_consent(page: Page, click: Callable[[], None]) -> None:
    """Run `click` and wait for the consent POST it causes (JSON answer, no navigation)."""
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith("/_privacy/consent")
    ) as posted:
        click()
    assert posted.value.status == 200, posted.value.status


# Whether the demo's marked analytics snippet ran (`gtag('config', 'G-DEMO')`).
CONFIGURED = "() => (window.dataLayer || []).some(entry => entry[0] === 'config')"

# The elements whose own text is `phrase` and that the browser paints: the hit test at the
# centre of the text's box lands on them (a clipped, 1-pixel legend is not hit).
PAINTED = """(root, phrase) => {
  const out = [];
  const walk = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walk.nextNode(); node; node = walk.nextNode()) {
    if (node.data.trim() !== phrase) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    const r = range.getBoundingClientRect();
    const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
    if (hit && (hit === node.parentElement || node.parentElement.contains(hit)))
      out.push(node.parentElement.tagName);
  }
  return out;
}"""


# -- the banner ---------------------------------------------------------------------------------


def test_choose_purposes_shows_once_and_still_names_the_group(visit: Visitor) -> None:
    v = visit(LONDON)
    goto(v.page, "/")
    banner = v.page.locator(BANNER)
    banner.locator("summary", has_text="Choose purposes").click()
    # The legend is visually hidden: of the texts saying "Choose purposes" only one (the
    # summary) is painted where a click would hit it (`innerText` counts clipped text too, so
    # this asks the hit test), while assistive technology still gets the fieldset's name.
    painted = banner.evaluate(PAINTED, "Choose purposes")
    assert painted == ["SUMMARY"], painted
    group = banner.get_by_role("group", name="Choose purposes")
    assert group.count() == 1
    legend = banner.locator("legend")
    box = legend.bounding_box()
    assert box is not None and box["width"] <= 1 and box["height"] <= 1


def test_banner_links_to_the_preference_center(visit: Visitor) -> None:
    v = visit(LONDON)
    goto(v.page, "/")
    link = v.page.locator(BANNER).get_by_role("link", name="privacy preferences")
    assert link.get_attribute("href") == "/_privacy/preferences"
    with v.page.expect_navigation(wait_until="load") as navigation:
        link.click()
    response = navigation.value
    assert response is not None and response.status == 200
    assert v.page.url.endswith("/_privacy/preferences")


def test_banner_link_in_arabic_and_thai(visit: Visitor) -> None:
    for language, words in (("ar", "تفضيلات الخصوصية"), ("th", "การตั้งค่าความเป็นส่วนตัว")):
        v = visit(LONDON, **{"Accept-Language": language})
        goto(v.page, "/")
        link = v.page.locator(BANNER).get_by_role("link", name=words)
        assert link.get_attribute("href") == "/_privacy/preferences"


def test_accept_all_runs_blocked_scripts_in_place_and_focus_lands_on_main(
    visit: Visitor,
) -> None:
    v = visit(LONDON)
    goto(v.page, "/")
    assert v.to(ANALYTICS_HOSTS | MARKETING_HOSTS | YOUTUBE) == []
    # Consent Mode's stub already made a dataLayer; the marked inline script adds `config`.
    assert not v.page.evaluate(CONFIGURED)

    post_consent(v.page, lambda: v.page.get_by_role("button", name="Accept all").click())
    v.page.locator(BANNER).wait_for(state="detached")
    # The marked inline scripts ran (analytics: dataLayer; personalization: localStorage) …
    v.page.wait_for_function(CONFIGURED)
    v.page.wait_for_function("() => localStorage.getItem('nw_recent') !== null")
    # … and the external ones, marked or neutralized by host, were requested, once each.
    v.page.wait_for_function(
        "() => document.querySelectorAll('script[src*=\"googletagmanager\"]').length === 1"
    )
    hosts = ("www.googletagmanager.com", "static.hotjar.com", "connect.facebook.net")
    eventually(v.page, lambda: all(v.to(frozenset({h})) for h in hosts))
    for host in hosts:
        assert len(v.to(frozenset({host}))) == 1, (host, v.requested)
    eventually(v.page, lambda: v.to(frozenset({"www.facebook.com"})) != [])  # the marked pixel
    assert v.page.locator(FRAME).get_attribute("src", timeout=1000)
    assert v.page.locator(PLACEHOLDER).count() == 0
    assert same_document(v.page), "the page was reloaded"
    # The button that had focus is gone; focus lands on the main landmark, not lost to body.
    assert v.page.evaluate("document.activeElement.tagName") == "MAIN"


def test_focus_returns_to_where_it_was_and_reject_all_activates_nothing(
    visit: Visitor,
) -> None:
    v = visit(LONDON)
    goto(v.page, "/")
    brand = v.page.locator("a.brand")
    brand.focus()
    v.page.locator(BANNER).get_by_role("button", name="Reject all").focus()
    post_consent(v.page, lambda: v.page.keyboard.press("Enter"))
    v.page.locator(BANNER).wait_for(state="detached")
    assert brand.evaluate("el => el === document.activeElement")
    assert same_document(v.page)
    v.page.wait_for_timeout(300)
    assert v.to(ANALYTICS_HOSTS | MARKETING_HOSTS | YOUTUBE) == []
    assert v.page.locator("script[type='text/plain'][data-consent]").count() >= 2
    assert v.page.locator(PLACEHOLDER).count() == 1  # marketing still refused


# -- blocked embeds -----------------------------------------------------------------------------


def test_embed_placeholder_names_provider_and_purpose_and_keeps_the_box(visit: Visitor) -> None:
    v = visit(LONDON)
    goto(v.page, "/")
    post_consent(v.page, lambda: v.page.get_by_role("button", name="Reject all").click())
    placeholder = v.page.locator(PLACEHOLDER)
    assert placeholder.is_visible()
    text = placeholder.inner_text()
    assert "YouTube video — blocked until you allow Marketing" in text
    assert placeholder.get_by_role("button", name="Load once").is_visible()
    assert placeholder.get_by_role("button", name="Always allow").is_visible()
    assert placeholder.get_by_role("link").get_attribute("href") == "/_privacy/preferences"
    assert not v.page.locator(FRAME).is_visible()
    box = placeholder.bounding_box()
    assert box is not None
    # The frame says width=560 height=315: the same box, so nothing moves when it loads.
    assert abs(box["width"] - 560) <= 1 and abs(box["height"] - 315) <= 1, box
    placeholder.scroll_into_view_if_needed()
    DOCS.mkdir(exist_ok=True)
    v.page.locator("section.video").screenshot(path=str(DOCS / "embed-placeholder.png"))
    assert v.to(YOUTUBE) == []


def test_load_once_loads_that_embed_only_and_records_nothing(visit: Visitor) -> None:
    v = visit(LONDON)
    goto(v.page, "/")
    post_consent(v.page, lambda: v.page.get_by_role("button", name="Reject all").click())
    frame = v.page.locator(FRAME)
    before = v.page.locator(PLACEHOLDER).bounding_box()
    v.page.locator(PLACEHOLDER).get_by_role("button", name="Load once").click()
    v.page.locator(PLACEHOLDER).wait_for(state="detached")
    assert frame.is_visible()
    assert (frame.get_attribute("src") or "").startswith("https://www.youtube.com/embed/")
    eventually(v.page, lambda: v.to(YOUTUBE) != [])
    assert len(v.to(YOUTUBE)) == 1
    after = frame.bounding_box()
    assert before is not None and after is not None
    assert abs(before["height"] - after["height"]) <= 1  # the layout did not jump
    # Only that frame: other marketing trackers stay off, and nothing was recorded.
    assert v.to(MARKETING_HOSTS) == []
    assert v.consent()["purposes"]["marketing"] is False
    goto(v.page, "/")
    assert v.page.locator(PLACEHOLDER).is_visible()  # once means once


def test_always_allow_grants_the_purpose_and_activates_all_of_it(visit: Visitor) -> None:
    v = visit(LONDON)
    goto(v.page, "/")
    post_consent(v.page, lambda: v.page.get_by_role("button", name="Reject all").click())
    always = v.page.locator(PLACEHOLDER).get_by_role("button", name="Always allow")
    post_consent(v.page, always.click)
    v.page.locator(PLACEHOLDER).wait_for(state="detached")
    state = v.consent()
    assert state["purposes"]["marketing"] is True
    assert state["purposes"]["analytics"] is False
    frame = v.page.locator(FRAME)
    assert frame.is_visible()
    assert frame.evaluate("el => el === document.activeElement")
    v.page.wait_for_function(
        "() => document.querySelector('img[src*=\"facebook.com/tr\"]') !== null"
    )
    eventually(v.page, lambda: v.to(YOUTUBE | {"connect.facebook.net"}) != [])
    assert v.to(YOUTUBE) != [] and v.to(frozenset({"connect.facebook.net"})) != []
    assert v.to(ANALYTICS_HOSTS) == []  # another purpose: still off
    assert same_document(v.page)
    # The next page comes with the frame active from the server.
    goto(v.page, "/")
    assert v.page.locator(PLACEHOLDER).count() == 0
    assert v.page.locator(FRAME).get_attribute("src")


def test_always_allow_against_gpc_asks_in_the_preference_center(visit: Visitor) -> None:
    # Sec-GPC: 1 opts out of sale/sharing (marketing); an explicit grant needs confirming there.
    v = visit(SAN_FRANCISCO, **{"Sec-GPC": "1"})
    goto(v.page, "/")
    always = v.page.locator(PLACEHOLDER).get_by_role("button", name="Always allow")
    with v.page.expect_navigation(wait_until="load"):
        post_consent(v.page, always.click)
    assert v.page.url.endswith("/_privacy/preferences")
    assert v.consent()["purposes"]["marketing"] is False
    assert v.to(YOUTUBE | MARKETING_HOSTS) == []


def test_embed_placeholder_in_arabic(visit: Visitor) -> None:
    v = visit(LONDON, **{"Accept-Language": "ar"})
    goto(v.page, "/")
    placeholder = v.page.locator(PLACEHOLDER)
    assert placeholder.get_attribute("dir") == "rtl"
    assert "فيديو YouTube — محجوب حتى تسمح بـالتسويق" in placeholder.inner_text()
    assert placeholder.get_by_role("button", name="تحميل مرة واحدة").is_visible()


def test_embed_placeholder_without_javascript_links_to_the_preferences(visit: Visitor) -> None:
    v = visit(LONDON, javascript=False)
    goto_no_js(v.page, "/")
    placeholder = v.page.locator(PLACEHOLDER)
    assert placeholder.is_visible()
    assert not placeholder.get_by_role("button", name="Load once").is_visible()
    link = placeholder.get_by_role("link", name="Privacy preferences")
    with v.page.expect_navigation(wait_until="load"):
        link.click()
    assert v.page.url.endswith("/_privacy/preferences")
    assert v.to(YOUTUBE) == []


# -- recommendation grids -----------------------------------------------------------------------


def test_recommendations_are_a_grid_with_prices_as_the_shop_writes_them(visit: Visitor) -> None:
    v = visit(LONDON)  # raining in London: the demo's rain-picks rule fills the slot
    goto(v.page, "/")
    grid = v.page.locator("[data-slot=recommendations] .consentgate-grid")
    assert grid.evaluate("el => getComputedStyle(el).display") == "grid"
    assert grid.evaluate("el => getComputedStyle(el).listStyleType") == "none"
    items = grid.locator(".consentgate-product")
    assert items.count() >= 2
    first, second = items.nth(0).bounding_box(), items.nth(1).bounding_box()
    assert first is not None and second is not None
    assert abs(first["y"] - second["y"]) <= 1 and second["x"] > first["x"]  # side by side
    name = items.nth(0).locator(".consentgate-name")
    price = items.nth(0).locator(".consentgate-price")
    name_box, price_box = name.bounding_box(), price.bounding_box()
    assert name_box is not None and price_box is not None
    assert price_box["y"] >= name_box["y"] + name_box["height"] - 1  # on a line of its own
    prices = grid.locator(".consentgate-price").all_inner_texts()
    assert prices and all(re.fullmatch(r"€\d+\.\d\d", p) for p in prices), prices
    v.page.locator(BANNER).get_by_role("button", name="Reject all").click()
    v.page.locator(BANNER).wait_for(state="detached")
    section = v.page.locator("[data-slot=recommendations]")
    section.scroll_into_view_if_needed()
    DOCS.mkdir(exist_ok=True)
    section.screenshot(path=str(DOCS / "recommendations.png"))


def test_recommendation_prices_in_arabic_and_thai(visit: Visitor) -> None:
    v = visit(LONDON, **{"Accept-Language": "ar"})
    goto(v.page, "/")
    prices = v.page.locator("[data-slot=recommendations] .consentgate-price").all_inner_texts()
    # CLDR ar: a right-to-left mark, the amount, a no-break space, then the symbol.
    assert prices and all(re.fullmatch(r"\u200f\d+\.\d\d\u00a0€", p) for p in prices), prices
    v = visit(LONDON, **{"Accept-Language": "th"})
    goto(v.page, "/")
    prices = v.page.locator("[data-slot=recommendations] .consentgate-price").all_inner_texts()
    assert prices and all(re.fullmatch(r"€\d+\.\d\d", p) for p in prices), prices


# -- a page whose CSP allows scripts by nonce only ------------------------------------------------

NONCE = "cHJpdmFjeS1maXJzdA=="
CSP_PAGE = f"""<!doctype html><html><head>
<meta http-equiv="Content-Security-Policy" content="script-src 'nonce-{NONCE}'">
<script nonce="{NONCE}">window.shopScript = true;</script>
<script type="text/plain" data-consent="analytics">window.analyticsRan = true;</script>
</head><body><main><h1>Shop</h1></main></body></html>"""


@pytest.fixture(scope="module")
def csp_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A gateway with the demo's purposes in front of the test storefront serving `CSP_PAGE`."""
    base = Path(procs.REPO / "gateway" / "demo" / "policies.base.yaml")
    with procs.start_upstream() as upstream:
        put = httpx.put(
            f"{upstream.url}/__serve/csp",
            content=CSP_PAGE.encode(),
            headers={"Content-Type": "text/html; charset=utf-8"},
        )
        assert put.status_code < 300
        path = procs.write_config(tmp_path_factory.mktemp("csp"), upstream=upstream.url)
        data = yaml.safe_load(path.read_text())
        demo = yaml.safe_load(base.read_text(encoding="utf-8"))
        data["purposes"], data["policy"] = demo["purposes"], demo["policy"]
        path.write_text(yaml.safe_dump(data, allow_unicode=True))
        with procs.start_gateway(path) as gateway:
            yield gateway.url


def test_banner_works_under_a_nonce_csp(csp_world: str, browser: Browser) -> None:
    context = browser.new_context(base_url=csp_world, viewport=DESKTOP)
    try:
        page = context.new_page()
        violations: list[str] = []
        # Blocked by a policy, that is: the gateway's own report-only policy (csp, default
        # report-only) cannot know a nonce given in a <meta> tag and only logs those scripts.
        page.on(
            "console",
            lambda m: (
                violations.append(m.text)
                if "Content Security" in m.text and "report-only" not in m.text
                else None
            ),
        )
        goto(page, "/served/csp")
        assert page.evaluate("window.shopScript === true")
        # The banner's scripts carry the page's nonce, so they run: the choice goes by fetch
        # and the granted inline script, recreated with the same nonce, runs in place.
        post_consent(page, lambda: page.get_by_role("button", name="Accept all").click())
        page.locator(BANNER).wait_for(state="detached")
        page.wait_for_function("() => window.analyticsRan === true")
        assert same_document(page)
        assert violations == [], violations
    finally:
        context.close()
