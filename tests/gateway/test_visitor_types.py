"""Visitor types and k-anonymous trending, end to end: the demo shop behind a real gateway,
visitors played with X-Forwarded-For, views through the gateway and purchases through
`POST /_privacy/events`: four home pages for new, returning non-buyer, engaged and customer
visitors who consented, none of them without consent; trending in the region only once k
subjects contributed. A gateway that does not serve `/_privacy/events` fails the module."""

from __future__ import annotations

import contextlib
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.demo_world import LINKOPING, LONDON, DemoWorld, start_world

pytestmark = pytest.mark.e2e

TOKEN = "e2e-events-token-0123456789abcdef"
K = 3
SESSION_GAP_S = 2.0
REFRESH_S = 0.5
DEADLINE_S = 20.0
HEROES = ("hero-new", "hero-returning", "hero-engaged", "hero-customer")


def adjust(data: dict[str, Any]) -> None:
    personalization = data["personalization"]
    personalization["events_token"] = TOKEN
    personalization["k_anonymity"] = K
    personalization["aggregates_refresh_seconds"] = REFRESH_S
    # A short session gap so a "returning" visitor needs seconds, not half an hour.
    personalization["visitor_types"] = {"session_gap_seconds": SESSION_GAP_S}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoWorld]:
    with start_world(tmp_path_factory.mktemp("demo"), adjust=adjust) as running:
        probe = httpx.post(f"{running.url}/_privacy/events", json={}, timeout=10)
        assert probe.status_code != 404, "the gateway does not serve /_privacy/events"
        yield running


def slot(html: str, name: str) -> str:
    start = html.find(f'data-slot="{name}"')
    assert start != -1, f"no {name} slot"
    end = html.find("data-slot=", start + 10)
    return html[start : end if end != -1 else len(html)]


def client(world: DemoWorld, ip: str) -> httpx.Client:
    headers = {"X-Forwarded-For": ip, "Accept": "text/html"}
    return httpx.Client(base_url=world.url, headers=headers, timeout=10)


@contextlib.contextmanager
def consenting(world: DemoWorld, ip: str) -> Iterator[httpx.Client]:
    """A visitor who accepted everything in the banner (their cg_id cookie in the jar)."""
    with client(world, ip) as visitor:
        answer = visitor.post(
            "/_privacy/consent", json={"action": "accept_all"}, headers={"Origin": world.url}
        )
        assert answer.status_code == 200, answer.text
        assert visitor.cookies.get("cg_id")
        yield visitor


def hero(visitor: httpx.Client) -> str:
    page = visitor.get("/")
    assert page.status_code == 200
    return slot(page.text, "hero-banner")


def heroes_in(html: str) -> set[str]:
    return {h for h in HEROES if re.search(rf'class="hero {h}"', html)}


def wait_for(check: Any, what: str) -> Any:
    """Poll `check()` until it returns something truthy (profile writes are queued)."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def purchase(world: DemoWorld, visitor: httpx.Client, sku: str, order: str) -> httpx.Response:
    """The shop's server reporting an order for the visitor whose cookie it saw."""
    return httpx.post(
        f"{world.url}/_privacy/events",
        json={
            "type": "purchase",
            "visitor": visitor.cookies["cg_id"],
            "sku": sku,
            "order_id": order,
            "value": 89.0,
            "currency": "EUR",
        },
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )


def test_four_visitor_types_get_four_home_pages(world: DemoWorld) -> None:
    # New: consented, first page.
    with consenting(world, LONDON) as new:
        assert heroes_in(hero(new)) == {"hero-new"}

    # Engaged: three rainwear products in one session.
    with consenting(world, LONDON) as engaged:
        for sku in ("RW-001", "RW-002", "RW-003"):
            assert engaged.get(f"/product/{sku}").status_code == 200
        wait_for(lambda: heroes_in(hero(engaged)) == {"hero-engaged"}, "the engaged banner")

    # Customer: bought through the shop (server-to-server event).
    with consenting(world, LONDON) as customer:
        assert heroes_in(hero(customer)) == {"hero-new"}
        answer = purchase(world, customer, "RW-001", "order-1")
        assert answer.status_code == 202 and answer.json()["recorded"] is True, answer.text
        assert heroes_in(hero(customer)) == {"hero-customer"}

    # Returning non-buyer: a product page, then back after the session gap.
    with consenting(world, LONDON) as returning:
        assert returning.get("/product/OD-001").status_code == 200
        time.sleep(SESSION_GAP_S + 1.0)  # the next visit starts a new session
        assert heroes_in(hero(returning)) == {"hero-returning"}

    # Without consent: none of the personal banners (visitor.type is unknown), and under
    # gdpr no cookie before a choice, so nothing could be linked to them either.
    with client(world, LONDON) as anonymous:
        for _ in range(3):
            assert heroes_in(anonymous.get("/").text) == set()
        assert anonymous.cookies.get("cg_id") is None


def test_purchase_without_consent_is_not_recorded(world: DemoWorld) -> None:
    with client(world, LONDON) as visitor:
        answer = visitor.post(
            "/_privacy/consent", json={"action": "reject_all"}, headers={"Origin": world.url}
        )
        assert answer.status_code == 200
        bought = purchase(world, visitor, "RW-001", "order-3")
        assert bought.status_code == 202
        assert bought.json() == {"recorded": False, "reason": "purpose personalization not granted"}
        assert heroes_in(hero(visitor)) == set()


def distinct_contributors(data_dir: Path, country: str) -> int:
    with sqlite3.connect(f"file:{data_dir / 'consentgate.db'}?mode=ro", uri=True) as db:
        row = db.execute(
            "SELECT COUNT(DISTINCT subject_id) FROM cg_events WHERE country = ? AND sku = ?",
            (country, "RW-002"),
        ).fetchone()
    return int(row[0])


def trending(world: DemoWorld) -> str | None:
    """The recommendations slot a Linköping visitor without consent sees, if trending."""
    with client(world, LINKOPING) as observer:
        html = slot(observer.get("/").text, "recommendations")
    return html if "Trending in your region" in html else None


def test_trending_in_region_needs_k_subjects(world: DemoWorld) -> None:
    assert trending(world) is None
    for contributed in range(1, K):
        with consenting(world, LINKOPING) as visitor:
            assert visitor.get("/product/RW-002").status_code == 200
        wait_for(
            lambda n=contributed: distinct_contributors(world.data_dir, "SE") >= n,
            f"{contributed} stored views",
        )
    time.sleep(4 * REFRESH_S)  # several refreshes have seen the k-1 contributions
    assert trending(world) is None  # k-1 subjects: still nothing
    with consenting(world, LINKOPING) as kth:
        assert kth.get("/product/RW-002").status_code == 200
    shown = wait_for(lambda: trending(world), "trending in the region")
    assert "Packable Poncho" in shown
