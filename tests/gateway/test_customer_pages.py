"""What customers see, through the real demo (shop + gateway processes on loopback): the
preference center tells the truth under GPC and names refusals as refusals, links back to the
shop and to the privacy policy, and us-optout visitors get the "Your Privacy Choices" link.
Visitors are played with `X-Forwarded-For` (the demo trusts loopback as a proxy)."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import httpx
import pytest

from tests.cli import succeeded
from tests.demo_world import (
    BANGKOK,
    LONDON,
    MILTON,
    SAN_FRANCISCO,
    DemoWorld,
    start_world,
)

pytestmark = pytest.mark.e2e
CHOICES = 'id="consentgate-choices"'
HTML = {"Accept": "text/html"}


@pytest.fixture(scope="module")
def world(shared_demo: DemoWorld) -> DemoWorld:
    return shared_demo


def visitor(world: DemoWorld, ip: str, **headers: str) -> httpx.Client:
    merged = {"X-Forwarded-For": ip, **headers}
    return httpx.Client(base_url=world.url, headers=merged, timeout=10, follow_redirects=False)


def keep_cookie(client: httpx.Client, response: httpx.Response) -> None:
    if "cg_id" in response.cookies:
        client.cookies.set("cg_id", response.cookies["cg_id"])


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def history(page: str) -> list[dict[str, str]]:
    """The preference center's history rows, newest first: kind, allowed, refused."""
    body = re.search(r'<table id="cg-history">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert body is not None, page
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S):
        kind = re.search(r'data-kind="(\w*)"', row)
        raw = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        cells = [html.unescape(re.sub(r"<[^>]+>", "", c)) for c in raw]
        rows.append(
            {"kind": kind.group(1) if kind else "", "allowed": cells[3], "refused": cells[4]}
        )
    return rows


def save_preferences(
    client: httpx.Client, world: DemoWorld, purposes: list[str], **extra: str
) -> httpx.Response:
    """Submit the preference center's form as a browser would (same origin)."""
    token = csrf_of(client.get("/_privacy/preferences").text)
    form: dict[str, Any] = {
        "csrf": token,
        "return_to": "/_privacy/preferences",
        "lang": "en",
        "method": "preferences",
        "action": "save",
        "purpose": purposes,
        **extra,
    }
    return client.post("/_privacy/consent", data=form, headers={"Origin": world.url})


def audit_actions(world: DemoWorld, ref: str) -> list[str]:
    exported = succeeded(
        "audit", "export", "--subject", ref, "--format", "jsonl", config=world.config
    )
    entries = [json.loads(line) for line in exported.splitlines()]
    return [e["action"] for e in entries if e["action"].startswith("consent.")]


# --- GPC truth ---------------------------------------------------------------------------


def test_gpc_keeps_marketing_refused_and_the_page_says_so(world: DemoWorld) -> None:
    with visitor(world, SAN_FRANCISCO, **{"Sec-GPC": "1", **HTML}) as client:
        # GPC alone creates no subject and no cookie; the first choice does.
        first = client.get("/")
        assert "cg_id" not in first.cookies
        saved = save_preferences(client, world, ["analytics", "marketing", "personalization"])
        assert saved.status_code == 303, saved.text
        assert saved.headers["location"] == "/_privacy/preferences?saved=1"
        page = client.get(saved.headers["location"]).text
        # The message says what was kept refused and why, not just "saved".
        kept = re.search(r'<p id="cg-gpc-kept">([^<]*)</p>', page)
        assert kept is not None, page
        assert "Your choices were saved." in page
        assert "Marketing" in kept.group(1) and "Global Privacy Control" in kept.group(1)
        newest = history(page)[0]
        assert "Marketing" not in newest["allowed"]
        assert newest["allowed"] == "Analytics, Personalization"
        assert newest["refused"] == "Marketing (kept refused by GPC)"
        state = client.get("/_privacy/consent").json()
        assert state["purposes"]["marketing"] is False and state["source"] == "gpc"
        ref = state["subject_ref"]

        # With the confirmation box the explicit choice wins (11 CCR §7025(c)(3)).
        confirmed = save_preferences(client, world, ["marketing"], confirm_gpc_override="1")
        assert confirmed.status_code == 303
        page = client.get(confirmed.headers["location"]).text
        assert 'id="cg-gpc-kept"' not in page and "Your choices were saved." in page
        newest = history(page)[0]
        assert newest["allowed"] == "Marketing" and "GPC" not in newest["refused"]
        assert client.get("/_privacy/consent").json()["purposes"]["marketing"] is True
    # The held-back grant granted nothing: the first choice gave analytics/personalization.
    assert audit_actions(world, ref) == ["consent.given", "consent.changed"]


# --- refusal is not withdrawal -------------------------------------------------------------


def test_a_first_reject_all_is_a_refusal_and_taking_back_is_a_withdrawal(
    world: DemoWorld,
) -> None:
    with visitor(world, LONDON, Origin=world.url) as client:
        first = client.post("/_privacy/consent", json={"action": "reject_all"})
        assert first.status_code == 200, first.text
        keep_cookie(client, first)
        ref = first.json()["subject_ref"]
        assert client.post("/_privacy/consent", json={"action": "accept_all"}).status_code == 200
        assert client.post("/_privacy/consent", json={"action": "reject_all"}).status_code == 200
        rows = history(client.get("/_privacy/preferences").text)
    assert [r["kind"] for r in rows] == ["withdrawn", "given", "refused"]
    assert audit_actions(world, ref) == ["consent.refused", "consent.given", "consent.withdrawn"]


# --- preference center navigation ----------------------------------------------------------


@pytest.mark.parametrize(
    ("return_to", "back"),
    [
        (None, "/"),
        ("/product/RW-001", "/product/RW-001"),
        ("/category/rainwear?sort=price", "/category/rainwear?sort=price"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/_privacy/admin", "/"),  # the gateway's own pages are no page of the shop
        ("/_privacy", "/"),
        ('/a"><script>x</script>', "/a&#34;&gt;&lt;script&gt;x&lt;/script&gt;"),
        ("/" + "a" * 5000, "/"),
    ],
)
def test_back_to_the_shop_goes_only_to_a_same_origin_path(
    world: DemoWorld, return_to: str | None, back: str
) -> None:
    params = {"return_to": return_to} if return_to is not None else {}
    with visitor(world, LONDON) as client:
        page = client.get("/_privacy/preferences", params=params)
    assert page.status_code == 200
    found = re.search(r'<a href="([^"]*)" id="cg-back">', page.text)
    assert found is not None and found.group(1) == back


def test_the_privacy_policy_is_linked_and_served(world: DemoWorld) -> None:
    with visitor(world, BANGKOK, **HTML) as client:
        page = client.get("/_privacy/preferences").text
        assert '<a href="/privacy" id="cg-policy">Privacy policy</a>' in page
        policy = client.get("/privacy")
        assert policy.status_code == 200 and "<h1>Privacy policy</h1>" in policy.text
        # The shop's footer link to the preference center carries the page it came from.
        assert 'href="/_privacy/preferences?return_to=/privacy"' in policy.text


def test_saving_keeps_the_way_back(world: DemoWorld) -> None:
    with visitor(world, MILTON, **HTML) as client:
        keep_cookie(client, client.get("/"))
        saved = save_preferences(client, world, ["analytics"], back="/product/RW-002")
        assert saved.status_code == 303
        assert (
            saved.headers["location"] == "/_privacy/preferences?saved=1&return_to=/product/RW-002"
        )
        evil = save_preferences(client, world, ["analytics"], back="//evil.example")
        assert evil.headers["location"] == "/_privacy/preferences?saved=1"


# --- "Your Privacy Choices" ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "headers", "shown"),
    [
        (MILTON, {}, True),
        (SAN_FRANCISCO, {}, True),
        (SAN_FRANCISCO, {"Sec-GPC": "1"}, True),  # reachable from every page, GPC or not
        (LONDON, {}, False),  # gdpr: opt-in, the banner asks first
        (BANGKOK, {}, False),  # default: marketing is opt-in there
    ],
)
def test_the_choices_link_is_on_us_optout_pages_only(
    world: DemoWorld, ip: str, headers: dict[str, str], shown: bool
) -> None:
    with visitor(world, ip, **HTML, **headers) as client:
        for path in ("/", "/product/RW-001", "/cart"):
            page = client.get(path)
            assert page.status_code == 200
            assert page.text.count(CHOICES) == (1 if shown else 0), (ip, path)
            if shown:
                # Last in the body; to the preference center, which links back here.
                assert page.text.index(CHOICES) > page.text.index("<footer")
                back = "" if path == "/" else f"?return_to={path}"
                assert f'href="/_privacy/preferences{back}"' in page.text
                assert "Your Privacy Choices</span>" in page.text


def test_the_choices_link_speaks_the_visitors_language(world: DemoWorld) -> None:
    with visitor(world, MILTON, **HTML, **{"Accept-Language": "ar"}) as client:
        page = client.get("/").text
    assert 'lang="ar" dir="rtl"' in page and "خيارات الخصوصية الخاصة بك" in page


def test_the_choices_link_stays_out_of_what_is_not_a_page(world: DemoWorld) -> None:
    with visitor(world, MILTON) as client:
        for path in ("/static/shop.css", "/images/RW-001.svg"):
            answer = client.get(path)
            assert answer.status_code == 200 and CHOICES not in answer.text, path


def test_the_shop_with_its_own_link_turns_it_off(tmp_path_factory: pytest.TempPathFactory) -> None:
    def off(config: dict[str, Any]) -> None:
        config.setdefault("consent", {})["us_choices_link"] = "off"

    with start_world(tmp_path_factory.mktemp("off"), adjust=off) as running:
        with visitor(running, MILTON, **HTML) as client:
            page = client.get("/")
    assert page.status_code == 200 and CHOICES not in page.text
