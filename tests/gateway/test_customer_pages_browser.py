"""What customers see, in headless Chromium through the demo: the "Your Privacy Choices" link
for us-optout visitors (and not for London), the preference center's way back and its policy
link, the GPC notice, and the my-data page on a 375 px phone without horizontal scrolling.
Leaves `docs/us-choices-link.png`, `docs/preferences-gpc.png`, `docs/my-data-mobile.png` and
`docs/my-data-mobile-profile.png`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from gateway.routes.dsr_page import render_bundle
from tests import procs
from tests.browser import DESKTOP, MARKS, goto, visits
from tests.demo_world import LONDON, MILTON, SAN_FRANCISCO, DemoWorld

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, ViewportSize

pytestmark = MARKS
PHONE: ViewportSize = {"width": 375, "height": 812}
DOCS = procs.REPO / "docs"
LINK = "#consentgate-choices a"
Opener = Callable[..., "Page"]
# The shop's own look: body font and colours, link colour, header and footer boxes.
LOOKS = """() => {
  const css = (el) => { const s = getComputedStyle(el);
    return [s.fontFamily, s.fontSize, s.color, s.backgroundColor].join('|'); };
  const box = (el) => { const r = el.getBoundingClientRect(); return [r.width, r.height]; };
  return [css(document.body), css(document.querySelector('.site-footer a')),
          box(document.querySelector('.site-header')), document.body.style.cssText];
}"""


@pytest.fixture(scope="module")
def world(shared_demo: DemoWorld) -> DemoWorld:
    return shared_demo


@pytest.fixture
def open_page(world: DemoWorld, browser: Browser) -> Iterator[Opener]:
    """`open_page(ip, viewport=DESKTOP, **headers)`: a fresh context (no cookies)."""
    with visits(browser, world.url) as visit:

        def opener(ip: str, viewport: ViewportSize = DESKTOP, **headers: str) -> Page:
            return visit(ip, viewport=viewport, **headers).page

        yield opener


def inside_viewport(page: Page, selector: str) -> None:
    box = page.locator(selector).bounding_box()
    size = page.viewport_size
    assert box is not None and size is not None
    assert box["x"] >= 0 and box["y"] >= 0, box
    assert box["x"] + box["width"] <= size["width"], box
    assert box["y"] + box["height"] <= size["height"], box


def scroll_width(page: Page) -> int:
    width: int = page.evaluate("document.documentElement.scrollWidth")
    return width


def test_milton_sees_the_choices_link_on_every_page_and_london_does_not(
    open_page: Opener,
) -> None:
    page = open_page(MILTON)
    for path in ("/", "/product/RW-001", "/cart"):
        goto(page, path)
        link = page.get_by_role("link", name="Your Privacy Choices", exact=True)
        assert link.is_visible(), path
        # Fixed in a corner of the screen, without scrolling.
        inside_viewport(page, LINK)
        assert page.locator("#consentgate-choices svg").is_visible()
    DOCS.mkdir(exist_ok=True)
    goto(page, "/")
    looks = page.evaluate(LOOKS)
    page.screenshot(path=str(DOCS / "us-choices-link.png"))
    link = page.get_by_role("link", name="Your Privacy Choices", exact=True)
    with page.expect_navigation(wait_until="load"):
        link.click()
    assert page.url.endswith("/_privacy/preferences")
    assert page.locator("#cg-dnss").is_visible()  # "Do Not Sell or Share" is right there

    london = open_page(LONDON)
    goto(london, "/")
    assert london.locator("#consentgate-choices").count() == 0
    # The link's styles stay inside it: the shop looks the same with and without it.
    assert london.evaluate(LOOKS) == looks


def test_the_choices_link_fits_a_phone_and_comes_back(open_page: Opener) -> None:
    page = open_page(SAN_FRANCISCO, viewport=PHONE, **{"Accept-Language": "ar"})
    goto(page, "/product/RW-002")
    before = scroll_width(page)
    inside_viewport(page, LINK)
    assert page.locator("#consentgate-choices").get_attribute("dir") == "rtl"
    with page.expect_navigation(wait_until="load"):
        page.locator(LINK).click()
    back = page.locator("#cg-back")
    assert back.get_attribute("href") == "/product/RW-002"
    with page.expect_navigation(wait_until="load"):
        back.click()
    assert page.url.endswith("/product/RW-002")
    assert scroll_width(page) == before  # the link adds no width to the page


def test_preference_center_links_back_to_the_shop_and_to_the_policy(open_page: Opener) -> None:
    page = open_page(LONDON)
    goto(page, "/category/rainwear")
    banner = page.locator("#consentgate-banner")
    banner.get_by_role("button", name="Reject all", exact=True).click()
    banner.wait_for(state="detached")
    # The shop's footer link to the preference center remembers where the visitor was.
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("link", name="Privacy preferences", exact=True).click()
    back = page.get_by_role("link", name="Back to the shop")
    assert back.is_visible() and back.get_attribute("href") == "/category/rainwear"
    policy = page.get_by_role("link", name="Privacy policy", exact=True)
    assert policy.is_visible()
    with page.expect_navigation(wait_until="load"):
        policy.click()
    assert page.url.endswith("/privacy")
    assert page.get_by_role("heading", name="Privacy policy").is_visible()
    page.go_back(wait_until="load")
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("link", name="Back to the shop").click()
    assert page.url.endswith("/category/rainwear")


def test_gpc_notice_says_what_stayed_refused(open_page: Opener) -> None:
    page = open_page(SAN_FRANCISCO, **{"Sec-GPC": "1"})
    goto(page, "/")
    goto(page, "/_privacy/preferences")
    page.get_by_label("Marketing", exact=True).check()
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Save my choices").click()
    status = page.locator("#cg-status")
    assert status.is_visible()
    text = status.inner_text()
    assert "Your choices were saved." in text
    assert "Marketing" in text and "Global Privacy Control" in text
    # The box shows the truth: marketing is still off.
    assert not page.get_by_label("Marketing", exact=True).is_checked()
    assert (
        "Marketing (kept refused by GPC)" in page.locator("#cg-history tbody tr").first.inner_text()
    )
    page.screenshot(path=str(DOCS / "preferences-gpc.png"), full_page=True)
    # On a phone the page does not scroll sideways (the history table scrolls in its box).
    page.set_viewport_size(PHONE)
    assert scroll_width(page) <= PHONE["width"]


def test_my_data_page_fits_a_phone(open_page: Opener) -> None:
    page = open_page(LONDON, viewport=PHONE)
    goto(page, "/")
    banner = page.locator("#consentgate-banner")
    with page.expect_response(lambda r: r.request.method == "POST"):
        banner.get_by_role("button", name="Accept all", exact=True).click()
    banner.wait_for(state="detached")
    for path in ("/product/RW-001", "/product/RW-002", "/category/rainwear", "/product/RW-003"):
        goto(page, path)
    goto(page, "/_privacy/my-data?format=html")
    for heading in ("Consent choices", "What personalization knows", "Decisions", "Events"):
        assert page.get_by_role("heading", name=heading).is_visible(), heading
    # Readable sections, not a JSON dump.
    assert page.locator("pre").count() == 0
    assert page.locator(".cg-profile dl").count() >= 1
    assert scroll_width(page) <= PHONE["width"]
    # Two phone screens for the docs: the top (consents), and the profile with what follows.
    page.screenshot(path=str(DOCS / "my-data-mobile.png"))
    page.evaluate("window.scrollTo(0, document.getElementById('cg-profile').offsetTop - 8)")
    page.screenshot(path=str(DOCS / "my-data-mobile-profile.png"))


def test_my_data_page_wraps_what_cannot_break(open_page: Opener) -> None:
    """Worst case: unbroken 300-character values everywhere a shop or visitor can put one."""
    long = "X" * 300
    bundle = {
        "subject_ref": "CG-" + "A" * 40,
        "generated_at": "2026-12-05T10:00:00Z",
        "consents": [
            {
                "time": "2026-12-05T10:00:00Z",
                "granted": [long],
                "denied": [],
                "method": "banner",
                "gpc": False,
                "regime": "gdpr",
                "policy_version": long,
                "language": "en",
                "text_hash": "f" * 64,
            }
        ],
        "profile": {
            "visitor_type": "browser",
            "engaged_categories": [long],
            "engaged_skus": [long, long],
            "facts": {long: {long: long}, "list": [long]},
            "experiments": {long: long},
            "frequency": {},
        },
        "decisions": [{"rule": long, "purposes": [long], "first": long, "last": long, "count": 1}],
        "events": [{"type": long, "ts": long, "sku": long, "order_value": 12.5}],
        "audit": [
            {
                "seq": 1,
                "ts": long,
                "action": long,
                "actor": long,
                "data": {long: [long]},
                "data_status": "decrypted",
                "proof": None,
                "proof_status": "pending",
            }
        ],
    }
    page = open_page(LONDON, viewport=PHONE)
    page.set_content(render_bundle(bundle, json_url="/j", delete_url="/d"))
    assert scroll_width(page) <= PHONE["width"]
