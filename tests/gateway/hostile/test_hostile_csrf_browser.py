"""Cross-site forms in a real browser: headless Chromium holds a visitor's `cg_id`, then opens an
attacker's page on another loopback origin (127.0.0.2, a separate `http.server` process) that
auto-submits a form to the gateway, carrying the best CSRF token the attacker can get (one
handed out without a cookie from the victim's own network). Neither the consent nor the
erasure form may change anything. The browser itself does not send the cookie (`SameSite=Lax`
on a cross-site POST), so the same posts are then repeated over HTTP *with* the cookie, as a
browser without SameSite would send them: the gateway must refuse on its own.
"""

from __future__ import annotations

import contextlib
import html
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests import procs
from tests.browser import MARKS, abort_off_loopback
from tests.demo_world import LONDON, DemoWorld, start_demo
from tests.figures import Figures

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

pytestmark = MARKS
ATTACKER_HOST = "127.0.0.2"
BANNER = "#consentgate-banner"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoWorld]:
    with start_demo(tmp_path_factory.mktemp("csrf-demo")) as running:
        yield running


@contextlib.contextmanager
def attacker_site(directory: Path) -> Iterator[str]:
    """`python -m http.server` on 127.0.0.2: another site, as far as the browser knows."""
    port = procs.free_port()
    argv = [sys.executable, "-m", "http.server", "--bind", ATTACKER_HOST, str(port)]
    argv += ["--directory", str(directory)]
    with procs.serve("attacker", argv, port, "/", host=ATTACKER_HOST) as server:
        yield server.url


def attack_page(target: str, fields: dict[str, str]) -> str:
    inputs = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in fields.items()
    )
    return (
        "<!doctype html><title>Win a prize</title>"
        f'<form method="post" action="{html.escape(target)}">{inputs}</form>'
        "<script>document.forms[0].submit()</script>"
    )


@pytest.fixture(scope="module")
def attacker(world: DemoWorld, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # The attacker's best token: a cookieless GET from the victim's own network (same NAT).
    with httpx.Client(base_url=world.url, headers={"X-Forwarded-For": LONDON}) as client:
        token = client.get("/_privacy/consent").headers["x-csrf-token"]
    site = tmp_path_factory.mktemp("attacker")
    (site / "consent.html").write_text(
        attack_page(world.url + "/_privacy/consent", {"action": "accept_all", "csrf": token})
    )
    (site / "delete.html").write_text(
        attack_page(world.url + "/_privacy/my-data/delete", {"confirm": "yes", "csrf": token})
    )
    (site / "token.txt").write_text(token)
    with attacker_site(site) as url:
        yield url


def victim_context(world: DemoWorld, browser: Browser) -> tuple[BrowserContext, str]:
    """A London visitor who clicked "Reject all" in the banner; their context and cg_id."""
    context = browser.new_context(extra_http_headers={"X-Forwarded-For": LONDON})
    context.set_default_timeout(15_000)
    # Trackers the shop embeds would go off-site: refused here (no network on the machine).
    abort_off_loopback(context, "127.0.0.1", ATTACKER_HOST)
    page = context.new_page()
    page.goto(world.url + "/", wait_until="load")
    with page.expect_response(lambda r: r.request.method == "POST"):
        page.locator(BANNER).get_by_role("button", name="Reject all", exact=True).click()
    cookies = {c["name"]: c["value"] for c in context.cookies(world.url)}
    assert "cg_id" in cookies
    return context, cookies["cg_id"]


def state(world: DemoWorld, cookie: str) -> dict[str, object]:
    with httpx.Client(base_url=world.url, headers={"X-Forwarded-For": LONDON}) as client:
        client.cookies.set("cg_id", cookie)
        answer: dict[str, object] = client.get("/_privacy/consent").json()
    return answer


@pytest.mark.parametrize(
    ("page_name", "path"),
    [("consent.html", "/_privacy/consent"), ("delete.html", "/_privacy/my-data/delete")],
)
def test_a_cross_site_form_changes_nothing(
    world: DemoWorld,
    browser: Browser,
    attacker: str,
    figures: Figures,
    page_name: str,
    path: str,
) -> None:
    context, cookie = victim_context(world, browser)
    try:
        before = state(world, cookie)
        assert before["source"] == "banner" and before["subject_ref"]
        page = context.new_page()
        with page.expect_response(
            lambda r: r.request.method == "POST" and r.url.endswith(path)
        ) as posted:
            page.goto(f"{attacker}/{page_name}")
        answer = posted.value
        figures.add("hostile inputs tried")
        # Chromium sends the attacker's Origin; the gateway refuses it as cross-site.
        assert answer.request.header_value("origin") == attacker
        assert answer.status == 403, answer.text()
        assert "cross-site" in answer.json()["error"]
    finally:
        context.close()
    assert state(world, cookie) == before  # same consent, same subject

    # The same top-level cross-site post, but with the victim's cookie (a browser without
    # SameSite, or a cookie sent anyway): refused with the attacker's Origin and without one.
    token = httpx.get(f"{attacker}/token.txt").text
    fields = {"action": "accept_all"} if path.endswith("consent") else {"confirm": "yes"}
    for origin in ({"Origin": attacker}, {"Origin": "null"}, {}):
        with httpx.Client(base_url=world.url, headers={"X-Forwarded-For": LONDON}) as client:
            client.cookies.set("cg_id", cookie)
            forged = client.post(path, data={**fields, "csrf": token}, headers=origin)
        figures.add("hostile inputs tried")
        assert forged.status_code == 403, (origin, forged.text)
    assert state(world, cookie) == before
