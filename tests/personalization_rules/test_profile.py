"""Visitor types from profile facts: precedence, thresholds, sessions, bounds, JSON form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from personalization_rules.profile import (
    MAX_RECENT,
    MAX_SKUS,
    ProfileFacts,
    ShopEvent,
    Thresholds,
    classify,
    earlier_session,
    fold,
    visitor_profile,
)
from policies.models import VisitorTypeSettings

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
GAP = timedelta(minutes=30)
DEFAULT = Thresholds()


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def view(minutes: float, sku: str | None = "A1", category: str | None = "rain") -> ShopEvent:
    return ShopEvent("view", at(minutes), sku, category, "GB")


def cart(minutes: float) -> ShopEvent:
    return ShopEvent("add_to_cart", at(minutes), "A1", "rain")


def buy(minutes: float, sku: str = "A1") -> ShopEvent:
    return ShopEvent("purchase", at(minutes), sku, "rain", None, 50.0, "o1", "EUR")


@pytest.mark.parametrize(
    ("name", "events", "now_minutes", "expected"),
    [
        ("nothing recorded yet", [], 0, "new"),
        ("one view, same session", [view(0)], 5, "new"),
        ("one view, gap not yet exceeded", [view(0)], 30, "new"),
        ("one view, back after the gap", [view(0)], 31, "returning_non_buyer"),
        (
            "two sessions recorded",
            [view(0, "A1", "a"), view(45, "B1", "b")],
            46,
            "returning_non_buyer",
        ),
        ("two views of one sku: engaged", [view(0), view(1)], 2, "engaged"),
        (
            "three category views: engaged",
            [view(0, "A1"), view(1, "A2"), view(2, "A3")],
            3,
            "engaged",
        ),
        ("two category views of different skus: not yet", [view(0, "A1"), view(1, "A2")], 2, "new"),
        (
            "category-page views count for the category",
            [view(0, None), view(1, None), view(2, None)],
            3,
            "engaged",
        ),
        ("cart add, abandoned after an hour", [view(0), cart(1)], 61, "cart_abandoner"),
        ("cart add, still inside the hour", [view(0, "B1"), cart(1)], 25, "new"),
        (
            "cart add inside the hour, later session",
            [view(0, "B1"), cart(1)],
            59,
            "returning_non_buyer",
        ),
        ("cart abandoner beats engaged", [view(0), view(1), cart(2)], 90, "cart_abandoner"),
        ("a purchase: customer", [view(0), cart(1), buy(2)], 3, "customer"),
        ("customer beats cart_abandoner", [buy(0), cart(5)], 600, "customer"),
        ("customer beats engaged", [view(0), view(1), buy(2)], 3, "customer"),
        ("purchase alone (server event)", [buy(0)], 1, "customer"),
    ],
)
def test_classification(
    name: str, events: list[ShopEvent], now_minutes: float, expected: str
) -> None:
    facts = fold(events, GAP)
    assert classify(facts, at(now_minutes), DEFAULT) == expected, name


def test_returning_without_purchase_tracking_is_plain_returning() -> None:
    facts = fold([view(0)], GAP)
    untracked = Thresholds(purchases_tracked=False)
    assert classify(facts, at(31), untracked) == "returning"
    assert classify(facts, at(31), DEFAULT) == "returning_non_buyer"


@pytest.mark.parametrize(
    ("category_views", "sku_views", "events", "expected"),
    [
        (1, 99, [view(0, "X")], "engaged"),
        (99, 1, [view(0, "X")], "engaged"),
        (5, 5, [view(m, f"S{m}") for m in range(4)], "new"),
        (4, 5, [view(m, f"S{m}") for m in range(4)], "engaged"),
    ],
)
def test_thresholds_are_configurable(
    category_views: int, sku_views: int, events: list[ShopEvent], expected: str
) -> None:
    thresholds = Thresholds(engaged_category_views=category_views, engaged_sku_views=sku_views)
    assert classify(fold(events, GAP), at(5), thresholds) == expected


def test_thresholds_from_settings() -> None:
    settings = VisitorTypeSettings(
        engaged_category_views=7,
        engaged_sku_views=4,
        cart_abandoned_after_minutes=15,
        session_gap_seconds=90,
    )
    t = Thresholds.from_settings(settings, purchases_tracked=False)
    assert t == Thresholds(7, 4, timedelta(minutes=15), timedelta(seconds=90), False)


@pytest.mark.parametrize(
    ("events", "now_minutes", "sessions", "earlier"),
    [
        ([], 0, 0, False),
        ([view(0), view(29), view(58)], 60, 1, False),  # activity keeps one session open
        ([view(0), view(31)], 32, 2, True),
        ([view(0)], 31, 1, True),
    ],
)
def test_sessions(
    events: list[ShopEvent], now_minutes: float, sessions: int, earlier: bool
) -> None:
    facts = fold(events, GAP)
    assert facts.sessions == sessions
    assert earlier_session(facts, at(now_minutes), GAP) is earlier


def test_profile_lists() -> None:
    events = [view(0, "A1"), view(1, "B2", "warm"), view(2, "A1"), view(3, "C3"), buy(4, "C3")]
    profile = visitor_profile(fold(events, GAP), at(5), DEFAULT)
    assert profile.type == "customer"
    assert profile.viewed_skus == ("C3", "A1", "B2")  # most recent first, no repeats
    assert profile.purchased_skus == ("C3",)
    assert profile.engaged_skus == ("A1",)
    assert profile.engaged_categories == ("rain",)


def test_events_fold_in_time_order() -> None:
    # A late-arriving older event must not move "last seen" backwards.
    facts = fold([view(10), view(0)], GAP)
    assert facts.first_seen == at(0) and facts.last_seen == at(10)
    late = facts.apply(view(5), GAP)
    assert late.last_seen == at(10)


def test_profile_is_bounded() -> None:
    facts = ProfileFacts()
    for i in range(MAX_SKUS + 40):
        facts = facts.apply(view(i / 100, f"S{i}", f"c{i}"), GAP)
    assert len(facts.sku_views) == MAX_SKUS
    assert len(facts.recent_skus) == MAX_RECENT
    assert facts.recent_skus[0] == f"S{MAX_SKUS + 39}"


def test_json_round_trip_and_garbage() -> None:
    facts = fold([view(0), cart(1), buy(2)], GAP)
    facts = ProfileFacts.from_json({**facts.to_json(), "customer": "1:abc"})
    assert ProfileFacts.from_json(facts.to_json()) == facts
    assert ProfileFacts.from_json(None) == ProfileFacts()
    junk = {
        "sessions": "3",
        "sku_views": {"A": -1, "B": True, "C": 2},
        "last_seen": "nope",
        "recent_skus": ["A", 3],
        "country": "",
    }
    parsed = ProfileFacts.from_json(junk)
    assert parsed.sessions == 0 and parsed.sku_views == {"C": 2}
    assert parsed.last_seen is None and parsed.recent_skus == ("A",) and parsed.country is None
