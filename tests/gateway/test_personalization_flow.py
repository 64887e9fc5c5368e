"""Personalization through the gateway, end to end: the demo shop behind a real gateway, with
the demo's rules, visitors played with X-Forwarded-For."""

from __future__ import annotations

import re

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


@pytest.fixture(scope="module")
def world(shared_demo: DemoWorld) -> DemoWorld:
    return shared_demo


def slot(html: str, name: str) -> str:
    match = re.search(rf'data-slot="{name}"[^>]*>(.*?)</div>\s*<!-- /{name} -->', html, re.S)
    if match:
        return match.group(1)
    start = html.find(f'data-slot="{name}"')
    assert start != -1, f"no {name} slot"
    return html[start : start + 1500]


def page(world: DemoWorld, ip: str, path: str = "/", **headers: str) -> str:
    answer = httpx.get(world.url + path, headers={"X-Forwarded-For": ip, **headers}, timeout=10)
    assert answer.status_code == 200
    return answer.text


def test_same_day_banner_only_in_san_francisco(world: DemoWorld) -> None:
    assert "Same-day delivery" in slot(page(world, SAN_FRANCISCO), "hero-banner")
    for ip in (LONDON, MILTON, BANGKOK):
        assert "Same-day delivery" not in page(world, ip)


def test_rain_picks_in_london_rain(world: DemoWorld) -> None:
    london = slot(page(world, LONDON), "recommendations")
    assert "Made for the rain" in london
    assert "Made for the rain" not in page(world, BANGKOK)


def test_product_grid_prices_follow_the_visitor_language(world: DemoWorld) -> None:
    english = page(world, LONDON)
    assert "<style>.consentgate-recs{" in english  # the default stylesheet, on by default
    prices = re.findall(r'<span class="consentgate-price">([^<]*)</span>', english)
    assert prices and all(re.fullmatch(r"€\d+\.\d\d", p) for p in prices), prices
    arabic = page(world, LONDON, **{"Accept-Language": "ar"})
    prices = re.findall(r'<span class="consentgate-price">([^<]*)</span>', arabic)
    assert prices and all(re.fullmatch(r"\u200f\d+\.\d\d\u00a0€", p) for p in prices), prices


def test_default_styles_can_be_switched_off(tmp_path_factory: pytest.TempPathFactory) -> None:
    def plain(data: dict[str, object]) -> None:
        settings = data.setdefault("personalization", {})
        assert isinstance(settings, dict)
        settings["default_styles"] = False

    with start_world(tmp_path_factory.mktemp("plain"), adjust=plain) as running:
        html = page(running, LONDON)
    assert '<ul class="consentgate-grid">' in html  # the grid still comes …
    assert "<style>.consentgate-recs{" not in html  # … to be styled by the shop


def test_explain_shows_the_same_decisions(world: DemoWorld) -> None:
    def explain(ip: str) -> str:
        return succeeded("rules", "explain", "--url", "/", "--ip", ip, config=world.config)

    assert "Same-day delivery" in explain(SAN_FRANCISCO)
    assert "Same-day delivery" not in explain(LONDON)
    assert "Made for the rain" in explain(LONDON)
