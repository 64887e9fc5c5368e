"""Self-service data-subject requests through a real gateway: `GET /_privacy/my-data` and
`POST /_privacy/my-data/delete`, on SQLite and PostgreSQL; plus the rate limiter."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.routes.dsr import RateLimiter
from tests.demo_world import SAN_FRANCISCO, DemoWorld
from tests.gateway.dsr_scenario import (
    assert_erased,
    browse_and_choose,
    check_bundle,
    client,
    seed_profile,
    store_url_of,
)
from tests.gateway.dsr_world import STORES, start_dsr_world, start_dsr_world_on


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_allows_a_burst_then_refills() -> None:
    clock = Clock()
    limiter = RateLimiter(3, clock=clock)
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(20.0)  # 3/min: one token per 20 s
    assert limiter.take("b") == 0.0  # per client
    clock.now += 20.0
    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0


def test_rate_limiter_keeps_a_bounded_number_of_clients() -> None:
    clock = Clock()
    limiter = RateLimiter(1, max_clients=2, clock=clock)
    for client_ip in ("a", "b", "c"):
        assert limiter.take(client_ip) == 0.0
    # "a" was evicted (least recently used), so it starts with a full bucket again.
    assert limiter.take("a") == 0.0
    assert limiter.take("c") > 0


@pytest.fixture(params=STORES)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DemoWorld]:
    with start_dsr_world_on(request.param, tmp_path / "demo") as running:
        yield running


@pytest.mark.e2e
def test_self_service_export_then_erasure(world: DemoWorld) -> None:
    store_url = store_url_of(world)
    with client(world) as browser:
        visitor_id, ref = browse_and_choose(browser)
        visitor = seed_profile(world, store_url, visitor_id, ref, secrets.token_hex(6))

        answer = browser.get("/_privacy/my-data")
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("application/json")
        assert answer.headers["content-disposition"] == (
            f'attachment; filename="my-data-{ref}.json"'
        )
        assert answer.headers["cache-control"] == "no-store"
        check_bundle(answer.json(), visitor, world)

        page = browser.get("/_privacy/my-data", params={"format": "html"})
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        for text in (ref, f"SKU-{visitor.token}", f"rule-{visitor.token}", "consent.given"):
            assert text in page.text
        assert browser.get("/_privacy/my-data", params={"format": "xml"}).status_code == 400

        # The confirmation step: a form that posts confirm=yes with a CSRF token.
        form = browser.get("/_privacy/my-data/delete")
        assert form.status_code == 200 and 'name="confirm" value="yes"' in form.text
        refused = browser.post("/_privacy/my-data/delete", json={"confirm": False})
        assert refused.status_code == 400 and "confirmation required" in refused.text
        cross = browser.post(
            "/_privacy/my-data/delete",
            json={"confirm": True},
            headers={"Origin": "https://evil.example"},
        )
        assert cross.status_code == 403
        # Neither refusal erased anything.
        assert browser.get("/_privacy/my-data").status_code == 200

        erased = browser.post("/_privacy/my-data/delete", data={"confirm": "yes"})
        assert erased.status_code == 200, erased.text
        assert erased.headers["content-type"].startswith("text/html")
        assert erased.headers.get_list("set-cookie") == [
            "cg_id=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
        ]

    # The old cookie no longer names anyone.
    with client(world) as stale:
        stale.cookies.set("cg_id", visitor_id)
        gone = stale.get("/_privacy/my-data")
        assert gone.status_code == 404 and "no data" in gone.json()["error"]
    assert_erased(world, store_url, visitor)


@pytest.mark.e2e
def test_visitor_without_subject_gets_404_and_cannot_erase(tmp_path: Path) -> None:
    with start_dsr_world(tmp_path / "demo") as world, client(world, SAN_FRANCISCO) as browser:
        answer = browser.get("/_privacy/my-data")
        assert answer.status_code == 404
        assert "no data" in answer.json()["error"]
        delete = browser.post("/_privacy/my-data/delete", json={"confirm": True})
        assert delete.status_code == 404
        bad = browser.post(
            "/_privacy/my-data/delete", content=b"x", headers={"content-type": "text/plain"}
        )
        assert bad.status_code == 415


@pytest.mark.e2e
def test_exports_are_rate_limited_per_client(tmp_path: Path) -> None:
    with start_dsr_world(tmp_path / "demo") as world, client(world) as browser:
        browse_and_choose(browser)
        statuses = [browser.get("/_privacy/my-data").status_code for _ in range(11)]
        # dsr.rate_per_minute defaults to 10.
        assert statuses[:10] == [200] * 10
        assert statuses[10] == 429
        limited = browser.get("/_privacy/my-data")
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        with client(world, SAN_FRANCISCO) as other:
            assert other.get("/_privacy/my-data").status_code == 404  # its own bucket
