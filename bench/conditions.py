"""Micro benchmark: compiled GrowthBook conditions for 200 rules over 10 slots.

Compiles 200 realistic rules (20 per slot; geo, weather, consent, page, visitor, cart, time,
user agent and experiment conditions), then measures, per synthetic request, the median time
to decide the rules under several evaluation strategies:

- ``all 200, every rule``: evaluate every condition (upper bound, what `rules explain` does);
- ``all 10 slots, first match``: rules in priority order, stop at the first match per slot;
- ``page slots only``: as above, only for the 2-3 slots the page actually carries;
- ``... + page.type index``: rules pre-bucketed by ``Condition.required["page.type"]``, so a
  request only tries rules that can match its page type.

Target: the whole rule evaluation <= 20 us per request. Not a test; prints a table.

    python bench/conditions.py [--rounds 21] [--requests 500]
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.synthetic import COUNTRIES, SLOTS, arguments, measure  # noqa: E402
from personalization_rules.conditions import Condition, compile_condition  # noqa: E402

PAGE_TYPES = ["home", "product", "category", "cart", "checkout", "search"]
WEATHER = ["rain", "clear", "fog", "snow", "clouds"]
SEGMENTS = ["bargain", "outdoor", "premium", "new-parent", "runner", "gardener"]
AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/124.0 Mobile Safari",
]


def make_rule(rng: random.Random) -> dict[str, Any]:
    """One plausible targeting condition, 1-4 clauses."""
    clauses: list[dict[str, Any]] = [
        {"geo.country": {"$in": rng.sample(COUNTRIES, rng.randint(1, 4))}},
        {"weather.condition": rng.choice(WEATHER)},
        {"weather.temp_c": {"$gte": rng.randint(5, 30)}},
        {"consent.personalization": True},
        {"visitor.type": rng.choice(["new", "returning"])},
        {"visitor.segments": {"$elemMatch": {"$eq": rng.choice(SEGMENTS)}}},
        {"cart.value": {"$gt": rng.choice([20, 50, 100])}},
        {"time.hour": {"$gte": rng.randint(0, 12), "$lt": rng.randint(13, 24)}},
        {"device.ua": {"$regex": rng.choice(["Mobile", "iPhone|Android", "Windows"])}},
        {"$or": [{"visitor.visits": {"$gte": 3}}, {"cart.items": {"$size": {"$gt": 0}}}]},
        {"page.path": {"$regex": "^/" + rng.choice(["products", "category", "cart"])}},
        {"exp.hero": rng.randint(0, 1)},
        {"app.version": {"$vgte": "2.3.0"}},
    ]
    cond: dict[str, Any] = {}
    # Most storefront rules name the page type they are for: a cheap discriminator.
    if rng.random() < 0.8:
        cond["page.type"] = rng.choice(PAGE_TYPES)
    for clause in rng.sample(clauses, rng.randint(1, 3)):
        cond.update(clause)
    return cond


def make_request(rng: random.Random) -> dict[str, Any]:
    """Attributes for one synthetic request."""
    return {
        "regime": rng.choice(["gdpr", "us-optout", "default"]),
        "consent": {"personalization": rng.random() < 0.6, "analytics": rng.random() < 0.5},
        "geo": {"country": rng.choice(COUNTRIES), "city": "X"},
        "weather": {"condition": rng.choice(WEATHER), "temp_c": rng.randint(-5, 38)},
        "page": {
            "type": rng.choice(PAGE_TYPES),
            "path": rng.choice(["/", "/products/umbrella", "/category/rain", "/cart"]),
        },
        "visitor": {
            "type": rng.choice(["new", "returning"]),
            "visits": rng.randint(1, 9),
            "segments": rng.sample(SEGMENTS, rng.randint(0, 3)),
        },
        "cart": {"items": [{"sku": "A"}] * rng.randint(0, 3), "value": rng.randint(0, 200)},
        "time": {"hour": rng.randint(0, 23)},
        "device": {"ua": rng.choice(AGENTS)},
        "exp": {"hero": rng.randint(0, 1)},
        "app": {"version": rng.choice(["2.2.9", "2.3.0", "3.0.1"])},
    }


Rules = dict[str, list[Condition]]
Strategy = Callable[[Mapping[str, Any], Sequence[str]], int]


def strategies(rules: Rules) -> dict[str, Strategy]:
    everything = [c.test for slot in SLOTS for c in rules[slot]]
    by_slot = {slot: [c.test for c in conds] for slot, conds in rules.items()}
    # slot -> page type -> tests (rules without a page.type requirement go in every bucket,
    # keeping priority order).
    indexed: dict[str, dict[str | None, list[Callable[[Any], bool]]]] = {}
    for slot, conds in rules.items():
        buckets: dict[str | None, list[Callable[[Any], bool]]] = {p: [] for p in PAGE_TYPES}
        buckets[None] = []
        for c in conds:
            wanted = c.required.get("page.type")
            for page_type in buckets:
                if wanted is None or page_type in wanted:
                    buckets[page_type].append(c.test)
        indexed[slot] = buckets

    def every_rule(attrs: Mapping[str, Any], slots: Sequence[str]) -> int:
        return sum(1 for test in everything if test(attrs))

    def first_match(
        tests_by_slot: Mapping[str, list[Callable[[Any], bool]]],
    ) -> Callable[[Mapping[str, Any], Sequence[str]], int]:
        def run(attrs: Mapping[str, Any], slots: Sequence[str]) -> int:
            hits = 0
            for slot in slots:
                for test in tests_by_slot[slot]:
                    if test(attrs):
                        hits += 1
                        break
            return hits

        return run

    page_first = first_match(by_slot)

    def indexed_first(attrs: Mapping[str, Any], slots: Sequence[str]) -> int:
        page_type = attrs["page"]["type"]
        hits = 0
        for slot in slots:
            for test in indexed[slot].get(page_type, indexed[slot][None]):
                if test(attrs):
                    hits += 1
                    break
        return hits

    return {
        "all 200, every rule": lambda a, s: every_rule(a, SLOTS),
        "all 10 slots, first match": lambda a, s: page_first(a, SLOTS),
        "all 10 slots, first match + page.type index": lambda a, s: indexed_first(a, SLOTS),
        "page slots only (2-3), first match": page_first,
        "page slots + page.type index": indexed_first,
    }


def main() -> None:
    args = arguments(__doc__)

    rng = random.Random(20261123)
    sources = {slot: [make_rule(rng) for _ in range(20)] for slot in SLOTS}
    start = time.perf_counter()
    rules = {slot: [compile_condition(c) for c in conds] for slot, conds in sources.items()}
    compile_ms = (time.perf_counter() - start) * 1000
    requests = [
        (make_request(rng), rng.sample(SLOTS[:4], rng.randint(2, 3))) for _ in range(args.requests)
    ]
    matched = sum(c(a) for a, _ in requests for conds in rules.values() for c in conds)
    print(f"compiled 200 rules in {compile_ms:.1f} ms; {matched / len(requests):.1f} match/request")
    print(f"{'strategy':46} median us/request (target <= 20)")
    for name, strategy in strategies(rules).items():

        def run(strategy: Strategy = strategy) -> None:
            for attrs, slots in requests:
                strategy(attrs, slots)

        print(f"{name:46} {measure(run, args.rounds, len(requests)):8.2f}")


if __name__ == "__main__":
    main()
