"""Consent in a real browser: headless Chromium drives the demo shop through the gateway.

A London visitor gets the banner and "Reject all" leaves every tracker
request unsent; granting analytics loads the analytics tag at once and on the next page; a San
Francisco visitor with GPC gets no banner and no sale/share trackers; the Arabic banner is
right-to-left. Visitors are played with `X-Forwarded-For` (the demo trusts loopback as a proxy).

Tracker requests are recorded, then aborted (`tests.browser.visits`): what counts is that the
browser *attempted* them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests import procs
from tests.browser import ANALYTICS_HOSTS, MARKETING_HOSTS, MARKS, YOUTUBE, Visitor, goto
from tests.demo_world import LONDON, SAN_FRANCISCO, DemoWorld

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = MARKS
DOCS = procs.REPO / "docs"

TRACKER_HOSTS = ANALYTICS_HOSTS | MARKETING_HOSTS | YOUTUBE
BANNER = "#consentgate-banner"


@pytest.fixture(scope="module")
def world(own_demo: DemoWorld) -> DemoWorld:
    return own_demo


def click_banner_button(page: Page, name: str) -> None:
    """Click a banner button with JavaScript on: the banner's script posts the choice with
    fetch to the consent endpoint and removes the banner in place (no navigation)."""
    banner = page.locator(BANNER)
    with page.expect_response(
        lambda r: r.request.resource_type == "fetch" and r.request.method == "POST"
    ) as posted:
        banner.get_by_role("button", name=name, exact=True).click()
    answer = posted.value
    assert answer.url.endswith("/_privacy/consent"), answer.url
    # 200 with the new state, or 303 back to the page (the server answers a form post so;
    # fetch follows it in the background).
    assert answer.status in (200, 303), answer.status
    banner.wait_for(state="detached")


def test_london_reject_all_sends_no_tracker_request(visit: Visitor) -> None:
    v = visit(LONDON)
    goto(v.page, "/")
    banner = v.page.locator(BANNER)
    assert banner.is_visible()
    assert banner.get_attribute("lang") == "en"
    # Screenshot for docs/: the English banner as a London visitor first sees it.
    DOCS.mkdir(exist_ok=True)
    v.page.screenshot(path=str(DOCS / "banner-en.png"))
    # Before any choice, gdpr allows no identifying cookie at all.
    assert v.context.cookies() == []

    click_banner_button(v.page, "Reject all")
    assert [c["name"] for c in v.context.cookies()] == ["cg_id"]

    goto(v.page, "/")
    assert v.page.locator(BANNER).count() == 0
    with v.page.expect_navigation(wait_until="load"):
        v.page.locator("[data-product-grid] article.card h3 a").first.click()
    assert "/product" in v.page.url
    assert v.page.locator(BANNER).count() == 0
    assert v.page.locator("[data-sku]").count() >= 1  # really on a product page

    assert v.to(TRACKER_HOSTS) == []
    # The visit did load the shop's own resources: the recording works.
    assert "127.0.0.1" in v.hosts()
    names = [c["name"] for c in v.context.cookies()]
    assert names == ["cg_id"], names
    assert "_ga" not in names
    cookie = v.context.cookies()[0]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"


def test_reject_all_works_without_javascript(visit: Visitor) -> None:
    v = visit(LONDON, javascript=False)
    goto(v.page, "/")
    product = v.page.locator("[data-product-grid] article.card h3 a").first.get_attribute("href")
    assert product and product.startswith("/")
    goto(v.page, product)
    banner = v.page.locator(BANNER)
    assert banner.is_visible()

    # A plain form post: 303 back to the very page the banner was on, now without it.
    with v.page.expect_navigation(wait_until="load") as navigation:
        banner.get_by_role("button", name="Reject all", exact=True).click()
    response = navigation.value
    assert response is not None and response.status == 200
    assert v.page.url.endswith(product)
    assert v.page.locator(BANNER).count() == 0
    assert [c["name"] for c in v.context.cookies()] == ["cg_id"]
    # Images and iframes load without JavaScript too: none of them is a tracker's.
    assert v.to(TRACKER_HOSTS) == []


def test_granting_analytics_loads_the_tag_on_the_next_page(visit: Visitor) -> None:
    v = visit(LONDON)
    goto(v.page, "/")
    banner = v.page.locator(BANNER)
    # Second layer: per-purpose toggles behind "Choose purposes".
    banner.locator("summary", has_text="Choose purposes").click()
    analytics = banner.get_by_label("Analytics", exact=True)
    assert not analytics.is_checked()  # gdpr: off until a clear yes
    analytics.check()
    click_banner_button(v.page, "Save my choices")
    # The choice takes effect in place (no reload): the analytics tag loads now, nothing else.
    v.page.wait_for_function("() => (window.dataLayer || []).some(e => e[0] === 'config')")
    assert v.to(frozenset({"www.googletagmanager.com"})) != []
    assert v.to(MARKETING_HOSTS | {"www.youtube.com"}) == []

    goto(v.page, "/")
    assert v.page.locator(BANNER).count() == 0
    assert v.to(frozenset({"www.googletagmanager.com"})) != []
    assert v.to(MARKETING_HOSTS) == []
    assert v.to(frozenset({"connect.facebook.net", "analytics.tiktok.com"})) == []


def test_san_francisco_with_gpc_gets_no_banner_and_no_sale_trackers(visit: Visitor) -> None:
    v = visit(SAN_FRANCISCO, **{"Sec-GPC": "1"})
    goto(v.page, "/")
    assert v.page.locator(BANNER).count() == 0
    goto(v.page, "/")
    assert v.to(MARKETING_HOSTS) == []
    # us-optout leaves analytics on by default: the browser does load trackers it may load,
    # so the empty list above is not an artefact of the recording.
    assert v.to(ANALYTICS_HOSTS) != []

    goto(v.page, "/_privacy/preferences")
    notice = v.page.locator("#cg-gpc")
    assert notice.is_visible()
    assert "Opt-Out Request Honored" in notice.inner_text()
    assert v.page.get_by_role(
        "button", name="Do Not Sell or Share My Personal Information"
    ).is_visible()


def test_arabic_banner_is_right_to_left_and_keyboard_operable(visit: Visitor) -> None:
    v = visit(LONDON, **{"Accept-Language": "ar"})
    goto(v.page, "/")
    banner = v.page.locator(BANNER)
    assert banner.is_visible()
    assert banner.evaluate("el => getComputedStyle(el).direction") == "rtl"
    assert banner.get_attribute("lang") == "ar"
    DOCS.mkdir(exist_ok=True)
    v.page.screenshot(path=str(DOCS / "banner-ar.png"))

    reject = banner.locator("button.cg-reject")
    accept = banner.locator("button.cg-accept")
    assert reject.inner_text().strip() == "رفض الكل"
    assert reject.is_visible() and accept.is_visible()
    r, a = reject.bounding_box(), accept.bounding_box()
    assert r is not None and a is not None
    # "Reject all" as prominent as "Accept all" (EDPB cookie banner taskforce report, 2023).
    assert abs(r["width"] - a["width"]) <= 1 and abs(r["height"] - a["height"]) <= 1
    assert abs(r["y"] - a["y"]) <= 1
    # Right-to-left: the first button in reading order (Reject) sits to the right.
    assert r["x"] > a["x"]

    # Keyboard: Tab reaches "Reject all" and its focus is visible.
    for _ in range(80):
        v.page.keyboard.press("Tab")
        if reject.evaluate("el => el === document.activeElement"):
            break
    else:
        pytest.fail("Tab never reached the Reject all button")
    assert reject.evaluate("el => el.matches(':focus-visible')")
    outline = reject.evaluate(
        "el => { const s = getComputedStyle(el); return [s.outlineStyle, s.outlineWidth]; }"
    )
    assert outline[0] != "none" and float(outline[1].removesuffix("px")) > 0, outline
    # And Enter on it is the same "Reject all" choice.
    v.page.keyboard.press("Enter")
    banner.wait_for(state="detached")
    assert [c["name"] for c in v.context.cookies()] == ["cg_id"]


def test_preference_center_shows_choice_history(visit: Visitor) -> None:
    v = visit(LONDON)
    goto(v.page, "/")
    click_banner_button(v.page, "Accept all")

    goto(v.page, "/_privacy/preferences")
    assert v.page.get_by_label("Analytics", exact=True).is_checked()
    # Withdrawing is as easy as giving: one click, no JavaScript needed for the form.
    with v.page.expect_navigation(wait_until="load"):
        v.page.get_by_role("button", name="Reject all", exact=True).click()
    assert "/_privacy/preferences" in v.page.url
    assert not v.page.get_by_label("Analytics", exact=True).is_checked()
    rows = v.page.locator("table tbody tr")
    assert rows.count() == 2
    methods = sorted(rows.locator("td:nth-child(2)").all_inner_texts())
    assert methods == ["banner", "preferences"]
    assert re.fullmatch(r"CG-\S+", v.page.locator("#cg-subject-ref").inner_text())
    DOCS.mkdir(exist_ok=True)
    v.page.screenshot(path=str(DOCS / "preferences.png"), full_page=True)


def test_thai_banner_renders_in_thai(visit: Visitor) -> None:
    v = visit(LONDON, **{"Accept-Language": "th"})
    goto(v.page, "/")
    banner = v.page.locator(BANNER)
    assert banner.is_visible()
    assert banner.get_attribute("lang") == "th"
    # Thai script in the visible text (U+0E00-U+0E7F); the screenshot shows whether the
    # machine's fonts draw it (CI installs fonts-thai-tlwg and fonts-noto-core).
    assert any("\u0e00" <= ch <= "\u0e7f" for ch in banner.inner_text())
    DOCS.mkdir(exist_ok=True)
    v.page.screenshot(path=str(DOCS / "banner-th.png"))
