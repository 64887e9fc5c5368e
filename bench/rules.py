"""Benchmark: the rule engine deciding 200 rules over 10 slots, per request.

Compiles 200 realistic rules (20 per slot, through the real rule-file checker: geo, weather,
visitor, consent, page, time, device, UTM conditions; about a third read behaviour or coarse
location data and are consent-gated; some have schedules and experiments), builds synthetic
requests (60 % with the personalization purpose granted, each with a subject pseudonym), and
reports the median over rounds of the mean time per request for:

- ``decide, all 10 slots``: the engine's hot path over every slot;
- ``decide, page slots (2-3)``: what the gateway does (only slots the page carries);
- ``decide, explain``: every rule evaluated with reasons (what `rules explain` does);
- ``build attributes``: `AttributeBuilder.build` for one request (not part of the target).

Target: decide <= 20 us per request. Not a test; prints a table.

    python bench/rules.py [--rounds 21] [--requests 500]
"""

from __future__ import annotations

import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.synthetic import COUNTRIES, SLOTS, arguments, measure  # noqa: E402
from personalization_rules.attributes import (  # noqa: E402
    AttributeBuilder,
    RequestFacts,
    VisitorProfile,
    Weather,
    local_time,
)
from personalization_rules.engine import Engine, Visit  # noqa: E402
from personalization_rules.geo import GeoPlace  # noqa: E402
from personalization_rules.rules import compile_rules  # noqa: E402
from policies.models import Config  # noqa: E402
from policies.rule_files import RuleFile  # noqa: E402
from policies.yaml_lines import parse  # noqa: E402

PAGE_TYPES = ["home", "product", "category", "cart", "checkout"]
PATHS = {
    "home": "/",
    "product": "/product/RW-001",
    "category": "/category/rainwear",
    "cart": "/cart",
    "checkout": "/checkout",
}
WEATHER_CODES = [0, 3, 45, 63, 73, 95]
VISITOR_TYPES = ["new", "returning", "returning_non_buyer", "engaged", "customer"]
AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
]
CITIES = [
    GeoPlace("EU", "GB", "GB-ENG", "London", 51.5142, -0.0931, "Europe/London"),
    GeoPlace("NA", "US", "US-CA", "San Francisco", 37.7749, -122.4194, "America/Los_Angeles"),
    GeoPlace("AS", "TH", "TH-10", "Bangkok", 13.7563, 100.5018, "Asia/Bangkok"),
]
BANNER = {"banner": {"template": "<h2>{{ t }}</h2>", "vars": {"t": "Hello"}}}


def make_rule(rng: random.Random, slot: str, n: int) -> dict[str, Any]:
    """One plausible rule for `slot`, 1-3 clauses."""
    clauses: list[dict[str, Any]] = [
        {"geo.country": {"$in": rng.sample(COUNTRIES, rng.randint(1, 4))}},
        {"weather.condition": rng.choice(["rain", "clear", "fog", "snow", "cloudy"])},
        {"weather.temperature": {"$gte": rng.randint(5, 30)}},
        {"consent.personalization": True},
        {"visitor.type": rng.choice(VISITOR_TYPES)},
        {"visitor.engaged_categories": {"$in": [rng.choice(["rainwear", "outdoor", "summer"])]}},
        {"geo.near": {"$in": ["sf_bay"]}},
        {"time.hour": {"$gte": rng.randint(0, 12), "$lt": rng.randint(13, 24)}},
        {"device": rng.choice(["mobile", "desktop", "tablet"])},
        {"utm.source": rng.choice(["newsletter", "google", "instagram"])},
        {"$or": [{"time.weekday": {"$in": ["sat", "sun"]}}, {"weather.condition": "rain"}]},
    ]
    when: dict[str, Any] = {}
    if rng.random() < 0.8:
        when["page.type"] = rng.choice(PAGE_TYPES)
    for clause in rng.sample(clauses, rng.randint(1, 3)):
        when.update(clause)
    rule: dict[str, Any] = {
        "id": f"{slot}-{n:02d}",
        "priority": rng.randint(0, 100),
        "slot": slot,
        "when": when,
    }
    if rng.random() < 0.1:
        rule["experiment"] = {
            "key": f"exp-{slot}-{n}",
            "variants": [{"id": "a", "then": BANNER}, {"id": "b", "then": BANNER}],
        }
    else:
        rule["then"] = BANNER
    if rng.random() < 0.1:
        rule["schedule"] = {"days": ["mon", "tue", "wed", "thu", "fri"], "hours": [8, 20]}
    return rule


def make_config() -> Config:
    return Config.model_validate(
        {
            "gateway": {"upstream": "http://127.0.0.1:1"},
            "purposes": [
                {
                    "id": "personalization",
                    "names": {"en": "P", "ar": "P", "th": "P"},
                    "descriptions": {"en": "P", "ar": "P", "th": "P"},
                    "legal_basis": "consent",
                    "data_uses": ["personalize.content"],
                }
            ],
            "personalization": {
                "slots": SLOTS,
                "data_purposes": {
                    "location.region": "none",
                    "location.coarse": "personalization",
                    "behavior.profile": "personalization",
                },
                "places": {"sf_bay": {"lat": 37.7749, "lon": -122.4194, "km": 60}},
            },
        }
    )


def make_facts(rng: random.Random, now: datetime) -> RequestFacts:
    page = rng.choice(PAGE_TYPES)
    query = "?utm_source=newsletter" if rng.random() < 0.2 else ""
    return RequestFacts(
        path=PATHS[page] + query,
        now=now,
        headers={"user-agent": rng.choice(AGENTS)},
        place=rng.choice(CITIES),
        weather=Weather(rng.choice(WEATHER_CODES), rng.uniform(-5, 38), rng.uniform(-8, 40)),
        granted=frozenset({"personalization"}) if rng.random() < 0.6 else frozenset(),
        profile=VisitorProfile(
            type=rng.choice(VISITOR_TYPES),  # type: ignore[arg-type]
            engaged_categories=tuple(rng.sample(["rainwear", "outdoor", "summer"], 2)),
        ),
    )


def main() -> None:
    args = arguments(__doc__)

    rng = random.Random(20261123)
    config = make_config()
    data = {"rules": [make_rule(rng, slot, n) for slot in SLOTS for n in range(20)]}
    text = yaml.safe_dump(data, sort_keys=False)
    document = parse(text).document
    assert document is not None
    start = time.perf_counter()
    rules, errors = compile_rules([RuleFile(Path("bench.yaml"), text.encode(), document)], config)
    compile_ms = (time.perf_counter() - start) * 1000
    if errors:
        raise SystemExit("\n".join(str(e) for e in errors))
    engine = Engine(rules, config.personalization)
    builder = AttributeBuilder(config.personalization, ["personalization"])
    now = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
    facts = [make_facts(rng, now) for _ in range(args.requests)]
    visits = [
        Visit(
            attributes=builder.build(f),
            granted=f.granted,
            local_time=local_time(now, f.place.time_zone if f.place else None),
            subject=f"pseudonym-{i}",
        )
        for i, f in enumerate(facts)
    ]
    page_slots = [rng.sample(SLOTS[:4], rng.randint(2, 3)) for _ in visits]
    filled = sum(len(engine.decide(v).slots) for v in visits) / len(visits)
    print(f"compiled {len(rules)} rules in {compile_ms:.1f} ms; {filled:.1f} slots filled/request")

    def all_slots() -> None:
        for v in visits:
            engine.decide(v)

    def page_only() -> None:
        for v, slots in zip(visits, page_slots, strict=True):
            engine.decide(v, slots)

    def explained() -> None:
        for v in visits:
            engine.decide(v, explain=True)

    def build() -> None:
        for f in facts:
            builder.build(f)

    n = len(visits)
    print(f"{'what':34} median us/request (target: decide <= 20)")
    for name, run in [
        ("decide, all 10 slots", all_slots),
        ("decide, page slots (2-3)", page_only),
        ("decide, explain (every rule)", explained),
        ("build attributes", build),
    ]:
        print(f"{name:34} {measure(run, args.rounds, n):8.2f}")


if __name__ == "__main__":
    main()
