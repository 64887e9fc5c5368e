"""The engine: gating, priority, holdout, experiments, schedules, caps, rendering."""

from __future__ import annotations

import sys
from collections import Counter
from datetime import UTC, datetime
from typing import Any, NoReturn

import pytest
from hypothesis import given
from hypothesis import strategies as st

from personalization_rules.attributes import (
    AttributeBuilder,
    RequestFacts,
    VisitorProfile,
    local_time,
)
from personalization_rules.bucketing import bucket_hash, choose_variation
from personalization_rules.engine import Engine, Visit, recommend_context, render
from personalization_rules.geo import GeoPlace
from personalization_rules.recommender import CatalogRecommender, Product
from personalization_rules.rules import Recommend
from personalization_rules.templates import _ENVIRONMENT
from tests.personalization_rules.rule_sample import config, engine

NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # Monday
ALL = frozenset({"essential", "analytics", "personalization", "marketing"})
NONE = frozenset({"essential"})


def visit(
    attributes: dict[str, Any] | None = None, granted: frozenset[str] = ALL, **kw: Any
) -> Visit:
    kw.setdefault("local_time", NOON)
    return Visit(attributes=attributes or {}, granted=granted, **kw)


def winner(e: Engine, v: Visit, slot: str = "hero-banner") -> str | None:
    found = e.decide(v).slots.get(slot)
    return found.rule_id if found else None


VISITOR_RULES = """\
rules:
  - id: customer
    slot: hero-banner
    priority: 50
    when: {visitor.type: customer}
    then: {banner: {template: "<h1>Welcome back</h1>"}}
  - id: rain
    slot: hero-banner
    priority: 10
    when: {weather.condition: rain}
    then: {banner: {template: "<h1>Rain</h1>"}}
"""


# -- consent gating ------------------------------------------------------------------------------


def test_a_rule_reading_visitor_type_never_matches_without_the_purpose() -> None:
    e = engine(VISITOR_RULES)
    # Even if the attributes carried the data, the rule cannot match: gating is structural.
    attributes = {"visitor": {"type": "customer"}, "weather": {"condition": "rain"}}
    assert winner(e, visit(attributes, ALL)) == "customer"
    assert winner(e, visit(attributes, NONE)) == "rain"
    explained = e.decide(visit(attributes, NONE), explain=True)
    reasons = {o.rule_id: (o.matched, o.reason) for o in explained.outcomes}
    assert reasons["customer"] == (False, "needs purpose 'personalization' (reads visitor.type)")
    assert reasons["rain"] == (True, None)


def test_a_template_reading_the_city_is_gated_too() -> None:
    e = engine(
        """\
        rules:
          - id: city
            slot: hero-banner
            then: {banner: {template: "in {{ geo.city }}"}}
        """
    )
    assert winner(e, visit({"geo": {"city": "London"}}, NONE)) is None
    assert winner(e, visit({"geo": {"city": "London"}}, ALL)) == "city"


def test_consent_attribute_is_contextual() -> None:
    e = engine(
        """\
        rules:
          - id: no-consent
            slot: hero-banner
            when: {consent.personalization: false}
            then: {banner: {template: "Turn on personalization for tips"}}
        """
    )
    assert winner(e, visit({"consent": {"personalization": False}}, NONE)) == "no-consent"


def test_plan_settles_consent_clauses_and_stops_at_a_sure_winner() -> None:
    e = engine(
        """\
        rules:
          - id: opted-out
            slot: hero-banner
            priority: 90
            when: {consent.personalization: false, device: mobile}
            then: {banner: {template: "a"}}
          - id: everyone
            slot: hero-banner
            priority: 50
            when: {}
            then: {banner: {template: "b"}}
          - id: unreachable
            slot: hero-banner
            priority: 10
            when: {device: mobile}
            then: {banner: {template: "c"}}
        """
    )
    granted = {"consent": {"personalization": True}, "device": "mobile"}
    plan = e.plan(ALL, granted)
    # The consent clause holds for nobody with the purpose granted: not in that plan; and
    # nothing below an always-true rule can win, so the plan stops there.
    assert [r.id for _, r, _, _ in plan["hero-banner"]] == ["everyone"]
    denied = {"consent": {"personalization": False}, "device": "mobile"}
    assert [r.id for _, r, _, _ in e.plan(NONE, denied)["hero-banner"]] == ["opted-out", "everyone"]
    assert winner(e, visit(denied, NONE)) == "opted-out"
    assert winner(e, visit({**denied, "device": "desktop"}, NONE)) == "everyone"
    assert winner(e, visit(granted, ALL)) == "everyone"
    # explain still reports every rule, the unreachable one as outranked.
    outcomes = e.decide(visit(granted, ALL), explain=True).outcomes
    assert [(o.rule_id, o.matched) for o in outcomes] == [
        ("opted-out", False),
        ("everyone", True),
        ("unreachable", True),
    ]


# -- priority and ties ---------------------------------------------------------------------------


def test_priority_then_id_decides() -> None:
    e = engine(
        """\
        rules:
          - {id: b, slot: hero-banner, priority: 5, then: {banner: {template: b}}}
          - {id: a, slot: hero-banner, priority: 5, then: {banner: {template: a}}}
          - {id: low, slot: hero-banner, priority: 1, then: {banner: {template: low}}}
          - {id: z, slot: footer, priority: -1, then: {banner: {template: z}}}
        """
    )
    decision = e.decide(visit(), explain=True)
    assert {s: d.rule_id for s, d in decision.slots.items()} == {"hero-banner": "a", "footer": "z"}
    assert [(o.rule_id, o.matched, o.reason) for o in decision.outcomes] == [
        ("a", True, None),
        ("b", True, "matched, but a ranks higher"),
        ("low", True, "matched, but a ranks higher"),
        ("z", True, None),
    ]
    assert winner(e, visit()) == "a"  # the fast path agrees


def test_only_slots_limits_the_work() -> None:
    e = engine(VISITOR_RULES)
    assert e.decide(visit({"weather": {"condition": "rain"}}), only_slots=["footer"]).slots == {}


def test_explain_gives_the_first_failing_clause() -> None:
    e = engine(
        """\
        rules:
          - id: gb-rain
            slot: hero-banner
            when: {geo.country: GB, weather.condition: rain}
            then: {banner: {template: x}}
        """
    )
    attributes = {"geo": {"country": "GB"}, "weather": {"condition": "fog"}}
    [outcome] = e.decide(visit(attributes), explain=True).outcomes
    assert outcome.reason == "when: weather.condition does not match (is 'fog')"


# -- holdout -------------------------------------------------------------------------------------


def test_holdout_share_is_deterministic_and_needs_state() -> None:
    cfg = config(holdout=0.3)
    e = engine(VISITOR_RULES, cfg)
    rain = {"weather": {"condition": "rain"}}
    held = [
        s for s in (f"subject-{i}" for i in range(2000)) if e.decide(visit(rain, subject=s)).holdout
    ]
    assert 0.25 < len(held) / 2000 < 0.35
    again = engine(VISITOR_RULES, cfg)  # another node, same config
    assert all(again.decide(visit(rain, subject=s)).holdout for s in held)
    decision = e.decide(visit(rain, subject=held[0]), explain=True)
    assert decision.slots == {}
    assert {o.reason for o in decision.outcomes} == {"visitor is in the holdout"}
    # No subject, or no purpose to keep state under: nobody is held out.
    assert not e.decide(visit(rain)).holdout
    assert not e.decide(visit(rain, NONE, subject=held[0])).holdout


# -- experiments ---------------------------------------------------------------------------------

EXPERIMENT = """\
rules:
  - id: hero-test
    slot: hero-banner
    experiment:
      key: hero-copy
      variants:
        - {id: control, weight: 0.5, then: {banner: {template: A}}}
        - {id: b, weight: 0.3, then: {banner: {template: B}}}
        - {id: c, weight: 0.2, then: {banner: {template: C}}}
"""


def variant(e: Engine, v: Visit) -> tuple[str | None, bool]:
    d = e.decide(v).slots["hero-banner"]
    return d.variant, d.sticky


def test_experiment_is_stable_per_pseudonym_across_nodes() -> None:
    node_a, node_b = engine(EXPERIMENT), engine(EXPERIMENT)
    for i in range(200):
        s = f"pseudonym-{i}"
        first = variant(node_a, visit(subject=s))
        assert first == variant(node_a, visit(subject=s)) == variant(node_b, visit(subject=s))
        assert first[1] is True


def test_experiment_uses_growthbook_v2_hash_and_weights() -> None:
    e = engine(EXPERIMENT)
    counts: Counter[str | None] = Counter()
    for i in range(3000):
        s = f"user-{i}"
        got, _ = variant(e, visit(subject=s))
        n = bucket_hash("hero-copy", s, 2)
        assert n is not None
        expected = ["control", "b", "c"][choose_variation(n, [(0.0, 0.5), (0.5, 0.8), (0.8, 1.0)])]
        assert got == expected
        counts[got] += 1
    assert 1350 < counts["control"] < 1650 and 750 < counts["b"] < 1050


def test_visitors_without_a_subject_get_the_control_or_a_per_request_bucket() -> None:
    assert variant(engine(EXPERIMENT), visit()) == ("control", False)
    # Without the purpose that allows state, even a subject is not bucketed.
    assert variant(engine(EXPERIMENT), visit(granted=NONE, subject="s")) == ("control", False)
    per_request = engine(EXPERIMENT, config(anonymous_variant="per_request"))
    assert variant(per_request, visit(request_bucket=0.1)) == ("control", False)
    assert variant(per_request, visit(request_bucket=0.6)) == ("b", False)
    assert variant(per_request, visit(request_bucket=0.95)) == ("c", False)
    assert variant(per_request, visit()) == ("control", False)


def test_forced_variant_is_never_sticky() -> None:
    e = engine(EXPERIMENT)
    assert variant(e, visit(subject="s", forced_variants={"hero-copy": "c"})) == ("c", False)
    assert variant(e, visit(forced_variants={"hero-copy": "nope"})) == ("control", False)


# -- schedules and frequency caps ------------------------------------------------------------------


def test_schedule_uses_the_visitors_time_zone() -> None:
    cfg = config()
    e = engine(
        """\
        rules:
          - id: office-hours
            slot: hero-banner
            schedule: {hours: [9, 17], days: [mon, tue, wed, thu, fri]}
            then: {banner: {template: "We are online"}}
        """,
        cfg,
    )
    builder = AttributeBuilder(cfg.personalization, ["essential"])
    london = GeoPlace("EU", "GB", None, "London", 51.5, -0.1, "Europe/London")
    sf = GeoPlace("NA", "US", "US-CA", "SF", 37.8, -122.4, "America/Los_Angeles")
    for place, expected in [(london, "office-hours"), (sf, None)]:  # 12:00 vs 04:00 local
        attributes = builder.build(RequestFacts(path="/", now=NOON, place=place))
        v = visit(attributes, NONE, local_time=local_time(NOON, place.time_zone))
        assert winner(e, v) == expected
    [outcome] = e.decide(
        visit({}, NONE, local_time=local_time(NOON, sf.time_zone)), explain=True
    ).outcomes
    assert outcome.reason == "schedule hours 9-17 (now 04:00)"


CAPPED = """\
rules:
  - id: capped
    slot: hero-banner
    priority: 9
    frequency: {max: 2, per: day}
    then: {banner: {template: capped}}
  - id: fallback
    slot: hero-banner
    then: {banner: {template: fallback}}
"""


def test_frequency_cap_applies_only_where_state_is_kept() -> None:
    e = engine(CAPPED)
    assert winner(e, visit(subject="s", impressions={"capped": 1})) == "capped"
    assert winner(e, visit(subject="s", impressions={"capped": 2})) == "fallback"
    explained = e.decide(visit(subject="s", impressions={"capped": 2}), explain=True)
    assert explained.outcomes[0].reason == "frequency cap 2 per day reached"
    # No subject or no purpose: no counter exists, so no cap (Active Cookie Consent mode).
    assert winner(e, visit(impressions={"capped": 5})) == "capped"
    assert winner(e, visit(granted=NONE, subject="s", impressions={"capped": 5})) == "capped"


# -- recommendations and rendering -----------------------------------------------------------------

RECS = """\
rules:
  - id: for-you
    slot: recommendations
    then:
      recommend: {strategy: recently_viewed, fallback: [similar, weather_picks], count: 2,
                  title: For <you>}
"""


def test_recommendations_fall_back_to_non_personal_strategies() -> None:
    e = engine(RECS)
    personal = e.decide(visit()).slots["recommendations"].action
    anonymous = e.decide(visit(granted=NONE)).slots["recommendations"].action
    assert isinstance(personal, Recommend) and isinstance(anonymous, Recommend)
    assert personal.strategies == ("recently_viewed", "similar", "weather_picks")
    assert anonymous.strategies == ("weather_picks",)


CITY_THEN_COUNTRY = """
    rules:
      - id: city
        slot: hero-banner
        priority: 20
        when: {}
        then: {banner: {template: "Hello, {{ geo.city }}"}}
      - id: country
        slot: hero-banner
        priority: 10
        when: {}
        then: {banner: {template: "Hello from {{ geo.country }}"}}
"""


def test_a_rule_whose_template_lacks_a_field_gives_the_slot_to_the_next() -> None:
    e = engine(CITY_THEN_COUNTRY)
    assert e.template_needs == {"city": ("geo.city",), "country": ("geo.country",)}
    assert winner(e, visit({"geo": {"country": "DE"}})) == "country"
    assert winner(e, visit({"geo": {"country": "DE", "city": None}})) == "country"
    assert winner(e, visit({"geo": {"country": "GB", "city": "London"}})) == "city"
    assert winner(e, visit({"geo": {}})) is None


def test_explain_names_the_field_the_template_lacks() -> None:
    e = engine(CITY_THEN_COUNTRY)
    outcomes = e.decide(visit({"geo": {"country": "DE"}}), explain=True).outcomes
    reasons = {o.rule_id: (o.matched, o.reason) for o in outcomes}
    assert reasons == {
        "city": (False, "template needs geo.city, which this visitor lacks"),
        "country": (True, None),
    }


@pytest.mark.parametrize(
    "template",
    [
        "{% if geo.city %}in {{ geo.city }}{% endif %}",
        "in {{ geo.city|default('your town') }}",
        "in {{ geo.city if geo.city else 'your town' }}",
        # A banner var is the rule's own, never the visitor's.
        "{{ title }}",
    ],
)
def test_guarded_reads_do_not_block(template: str) -> None:
    e = engine(
        f"""
        rules:
          - id: guarded
            slot: hero-banner
            when: {{}}
            then: {{banner: {{template: "{template}", vars: {{title: x}}}}}}
        """
    )
    assert e.template_needs == {}
    assert winner(e, visit({"geo": {}})) == "guarded"


def test_no_template_error_on_the_request_path_for_a_visitor_without_a_city(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    e = engine(CITY_THEN_COUNTRY)
    failures: list[BaseException] = []
    environment = type(_ENVIRONMENT)
    original = environment.handle_exception

    def counting(self: Any, source: str | None = None) -> NoReturn:
        failures.append(sys.exc_info()[1] or Exception())
        original(self, source)

    monkeypatch.setattr(environment, "handle_exception", counting)
    attributes = {"geo": {"country": "DE"}}
    decision = e.decide(visit(attributes))
    html = render(decision, attributes, CatalogRecommender([]), recommend_context(attributes, None))
    assert html == {"hero-banner": "Hello from DE"}
    assert failures == []


def test_render_fills_slots_with_escaped_html() -> None:
    e = engine(
        RECS
        + """\
  - id: hello
    slot: hero-banner
    when: {weather.condition: rain}
    then: {banner: {template: "<h1>{{ greeting }}, {{ weather.temperature }} °C</h1>",
                    vars: {greeting: "Hi & welcome"}}}
  - id: broken
    slot: footer
    then: {banner: {template: "{{ weather.temperature / 0 }}"}}
"""
    )
    catalog = CatalogRecommender(
        [Product("R", "Rain <Jacket>", tags=("rain",)), Product("V", "Viewed", popularity=1)]
    )
    attributes = {"weather": {"condition": "rain", "temperature": 9.0}, "page": {"type": "home"}}
    profile = VisitorProfile("engaged", viewed_skus=("V",))
    decision = e.decide(visit(attributes))
    html = render(decision, attributes, catalog, recommend_context(attributes, profile))
    assert html["hero-banner"] == "<h1>Hi &amp; welcome, 9.0 °C</h1>"
    assert '<h2 class="consentgate-recs-title">For &lt;you&gt;</h2>' in html["recommendations"]
    assert html["recommendations"].index('data-sku="V"') < html["recommendations"].index(
        'data-sku="R"'
    )
    assert "Rain &lt;Jacket&gt;" in html["recommendations"]
    assert "footer" not in html  # a failing template leaves the shop's own content


# -- the fast path agrees with explain -------------------------------------------------------------

MIXED = """\
rules:
  - {id: a, slot: hero-banner, priority: 9, when: {page.type: product, visitor.type: customer},
     then: {banner: {template: a}}}
  - {id: b, slot: hero-banner, priority: 8, when: {page.type: {$in: [home, cart]}},
     then: {banner: {template: b}}}
  - {id: c, slot: hero-banner, priority: 7, when: {weather.condition: rain, device: mobile},
     then: {banner: {template: c}}}
  - {id: d, slot: hero-banner, priority: 6, when: {$or: [{page.type: other}, {time.hour: 3}]},
     then: {banner: {template: d}}}
  - {id: e, slot: footer, priority: 5, when: {visitor.type: {$in: [new, engaged]},
     weather.condition: {$ne: rain}}, then: {banner: {template: e}}}
  - {id: f, slot: footer, priority: 4, when: {page.type: checkout, weather.condition: snow},
     then: {banner: {template: f}}}
"""


@given(
    page=st.sampled_from(["home", "product", "cart", "checkout", "category", "other", "odd", None]),
    visitor=st.sampled_from(["new", "engaged", "customer", "unknown", "bogus", None]),
    weather=st.sampled_from(["rain", "snow", "clear", "unknown", None, 7]),
    device=st.sampled_from(["mobile", "desktop"]),
    hour=st.integers(0, 23),
    granted=st.sampled_from([ALL, NONE]),
)
def test_fast_path_matches_explain(
    page: str | None,
    visitor: str | None,
    weather: object,
    device: str,
    hour: int,
    granted: frozenset[str],
) -> None:
    e = engine(MIXED)
    attributes = {
        "page": {"type": page},
        "visitor": {"type": visitor},
        "weather": {"condition": weather},
        "device": device,
        "time": {"hour": hour},
    }
    fast = e.decide(visit(attributes, granted))
    slow = e.decide(visit(attributes, granted), explain=True)
    assert {s: d.rule_id for s, d in fast.slots.items()} == {
        s: d.rule_id for s, d in slow.slots.items()
    }
