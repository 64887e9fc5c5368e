"""`Personalizer`: the one path from request facts to decision and slot HTML.

The request path asks for a fast decision, `rules explain` for an explained one; both must
name the same winners and render the same HTML for the same facts.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gateway.wiring import load_config
from personalization_rules.attributes import VISITOR_TYPES, RequestFacts, VisitorProfile
from personalization_rules.geo import GeoPlace
from personalization_rules.personalizer import (
    MAX_HEADER,
    Personalized,
    Personalizer,
    rule_headers,
)
from personalization_rules.weather_codes import Weather, condition_for

REPO = Path(__file__).resolve().parents[2]
# The example config: eleven rules with a schedule, a frequency cap, an experiment, and
# location, weather, consent, visitor type, device and page conditions.
PERSONALIZER = Personalizer(load_config(REPO / "policies.yaml"))
PURPOSES = ("analytics", "marketing", "personalization")

PLACES = (
    None,
    GeoPlace("EU", "GB", "GB-ENG", "London", 51.5142, -0.0931, "Europe/London"),
    GeoPlace("NA", "US", "US-CA", "San Francisco", 37.7749, -122.4194, "America/Los_Angeles"),
    GeoPlace("AS", "TH", None, "Bangkok", 13.7563, 100.5018, "Asia/Bangkok"),
    GeoPlace(None, "DE", None, None, None, None, None),
)
PATHS = ("/", "/product/RW-001", "/category/rainwear", "/cart", "/?utm_source=newsletter", "/x")
AGENTS = ("", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4) Mobile/15E148", "Mozilla/5.0 (X11)")


def winners(page: Personalized) -> dict[str, tuple[str, str | None, object]]:
    return {
        slot: (won.rule_id, won.variant, won.action) for slot, won in page.decision.slots.items()
    }


facts_strategy = st.builds(
    RequestFacts,
    path=st.sampled_from(PATHS),
    # Around the example config's December weekend sale (its schedule).
    now=st.datetimes(
        min_value=datetime(2026, 11, 25), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
    ),
    headers=st.builds(lambda ua: {"user-agent": ua} if ua else {}, st.sampled_from(AGENTS)),
    place=st.sampled_from(PLACES),
    weather=st.one_of(
        st.none(),
        st.builds(
            lambda code, temperature: Weather(condition_for(code), temperature, None, code=code),
            st.sampled_from((None, 0, 3, 45, 61, 71, 95)),
            st.one_of(st.none(), st.floats(-30, 45)),
        ),
    ),
    granted=st.frozensets(st.sampled_from(PURPOSES)),
    profile=st.one_of(st.none(), st.builds(VisitorProfile, type=st.sampled_from(VISITOR_TYPES))),
    interests=st.sampled_from(((), ("hiking",))),
    shop=st.sampled_from(({}, {"loyalty_tier": "gold"})),
)


@given(
    facts=facts_strategy,
    subject=st.sampled_from((None, "subject-a", "subject-b")),
    impressions=st.dictionaries(st.just("winter-weekend-sale"), st.integers(0, 5)),
)
@example(
    # A rainy Saturday in London, everything granted: the schedule and the cap both count.
    facts=RequestFacts(
        path="/",
        now=datetime(2026, 12, 5, 11, tzinfo=UTC),
        place=PLACES[1],
        weather=Weather("rain", 4.0, 1.0, code=61),
        granted=frozenset(PURPOSES),
        profile=VisitorProfile(type="customer"),
    ),
    subject="subject-a",
    impressions={"winter-weekend-sale": 1},
)
@example(
    # The same Saturday with the day's cap of 3 reached.
    facts=RequestFacts(
        path="/",
        now=datetime(2026, 12, 5, 11, tzinfo=UTC),
        place=PLACES[1],
        granted=frozenset(PURPOSES),
    ),
    subject="subject-a",
    impressions={"winter-weekend-sale": 3},
)
def test_explained_and_fast_decisions_agree(
    facts: RequestFacts, subject: str | None, impressions: dict[str, int]
) -> None:
    fast = PERSONALIZER.personalize(facts, subject=subject, impressions=impressions)
    explained = PERSONALIZER.personalize(
        facts, subject=subject, impressions=impressions, explain=True
    )
    assert winners(explained) == winners(fast)
    assert explained.html == fast.html
    assert explained.attributes == fast.attributes
    # Every rule of every slot has an outcome when explained, none when not.
    assert len(explained.decision.outcomes) == len(PERSONALIZER.rules) or explained.decision.holdout
    assert fast.decision.outcomes == ()


def test_the_profile_reaches_recommendations_only_under_its_purpose() -> None:
    profile = VisitorProfile(type="engaged", viewed_skus=("RW-001",))
    facts = RequestFacts(path="/product/RW-002", now=datetime.now(UTC), profile=profile)
    without = PERSONALIZER.personalize(facts)
    assert without.attributes["visitor"] == {"type": "unknown"}
    granted = RequestFacts(
        path="/product/RW-002",
        now=datetime.now(UTC),
        profile=profile,
        granted=frozenset({"personalization"}),
    )
    assert PERSONALIZER.personalize(granted).attributes["visitor"]["type"] == "engaged"


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([("User-Agent", "a"), ("Referer", "https://r.example/")],
         {"user-agent": "a", "referer": "https://r.example/"}),
        ([("user-agent", "a"), ("user-agent", "b")], {"user-agent": "b"}),  # the last wins
        ([("Cookie", "id=1"), ("Sec-GPC", "1"), ("X-Forwarded-For", "1.2.3.4")], {}),
        ([("user-agent", "x" * (MAX_HEADER + 10))], {"user-agent": "x" * MAX_HEADER}),
        ([], {}),
    ],
)  # fmt: skip
def test_rule_headers(pairs: list[tuple[str, str]], expected: dict[str, str]) -> None:
    assert rule_headers(pairs) == expected


BAY_AREA = GeoPlace("NA", "US", "US-CA", "San Francisco", 37.7749, -122.4194, "America/Los_Angeles")


@pytest.mark.parametrize(
    ("city", "hero", "reason"),
    [
        ("San Francisco", "sf-same-day", None),
        # Inside the sf_bay circle but no city known: the banner's `{{ geo.city }}` cannot render.
        (None, None, "template needs geo.city, which this visitor lacks"),
    ],
)
def test_the_example_same_day_banner_needs_the_city(
    city: str | None, hero: str | None, reason: str | None
) -> None:
    place = dataclasses.replace(BAY_AREA, city=city)
    facts = RequestFacts(
        "/", datetime(2026, 11, 23, 12, tzinfo=UTC), place=place, granted=frozenset(PURPOSES)
    )
    fast = PERSONALIZER.personalize(facts)
    explained = PERSONALIZER.personalize(facts, explain=True)
    won = fast.decision.slots.get("hero-banner")
    assert (won.rule_id if won else None) == hero
    assert winners(fast) == winners(explained) and fast.html == explained.html
    outcome = next(o for o in explained.decision.outcomes if o.rule_id == "sf-same-day")
    assert outcome.reason == reason
