"""The aggregate recommender over a cached snapshot, and the catalog file reload."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from personalization_rules.aggregates import AggregateCache, Aggregates
from personalization_rules.recommendations import AggregateRecommender, CatalogFile
from personalization_rules.recommender import Product, RecommendContext

CATALOG = [
    Product("J", "Jacket", category="rainwear", popularity=90),
    Product("U", "Umbrella", category="rainwear", popularity=80, stock=0),
    Product("B", "Boots", category="rainwear", popularity=50),
    Product("S", "Sunscreen", category="summer", popularity=95),
    Product("H", "Hat", category="summer", popularity=40),
]
NONE: frozenset[str] = frozenset()


def recommender(snapshot: Aggregates) -> AggregateRecommender:
    cache = AggregateCache(k=3)
    cache.snapshot = snapshot
    return AggregateRecommender(CATALOG, cache)


def skus(
    snapshot: Aggregates,
    strategies: list[str],
    context: RecommendContext,
    exclusions: frozenset[str] = NONE,
    count: int = 10,
) -> list[str]:
    found = recommender(snapshot).recommend(strategies, count, exclusions, context)
    return [p.sku for p in found]


SNAPSHOT = Aggregates(
    bestsellers=("B", "GONE", "H"),
    trending={"SE": ("H", "J", "GONE"), "GB": ("U",)},
    together={"J": ("B", "U"), "S": ("H", "J")},
)


@pytest.mark.parametrize(
    ("strategies", "context", "exclusions", "expected"),
    [
        # Aggregated bestsellers first (unknown SKUs skipped), then the catalog's popularity.
        (["bestsellers"], RecommendContext(), NONE, ["B", "H", "S", "J", "U"]),
        (
            ["category_bestsellers"],
            RecommendContext(page_category="rainwear"),
            NONE,
            ["B", "J", "U"],
        ),
        (["category_bestsellers"], RecommendContext(), NONE, []),
        (["trending_in_region"], RecommendContext(country="SE"), NONE, ["H", "J"]),
        (["trending_in_region"], RecommendContext(country="TH"), NONE, []),
        (["trending_in_region"], RecommendContext(), NONE, []),
        (["trending_in_region"], RecommendContext(country="GB"), frozenset({"out_of_stock"}), []),
        (
            ["trending_in_region", "bestsellers"],
            RecommendContext(country="TH"),
            NONE,
            ["B", "H", "S", "J", "U"],
        ),  # falls through to the next strategy
        (["bought_together"], RecommendContext(page_sku="J"), NONE, ["B", "U"]),
        (
            ["bought_together"],
            RecommendContext(purchased_skus=("S", "J")),
            NONE,
            ["H", "B", "U"],
        ),  # anchors themselves are never suggested
        (["bought_together"], RecommendContext(page_sku="H"), NONE, []),
        (["similar"], RecommendContext(page_sku="J"), NONE, ["U", "B"]),  # catalog strategy
    ],
)
def test_strategies(
    strategies: list[str],
    context: RecommendContext,
    exclusions: frozenset[str],
    expected: list[str],
) -> None:
    assert skus(SNAPSHOT, strategies, context, exclusions) == expected


def test_empty_snapshot_shows_no_aggregates() -> None:
    empty = Aggregates()
    assert skus(empty, ["trending_in_region"], RecommendContext(country="SE")) == []
    assert skus(empty, ["bought_together"], RecommendContext(page_sku="J")) == []
    assert skus(empty, ["bestsellers"], RecommendContext(), count=2) == ["S", "J"]


def test_a_new_snapshot_is_read_at_once() -> None:
    rec = recommender(Aggregates())
    context = RecommendContext(country="SE")
    assert rec.recommend(["trending_in_region"], 4, NONE, context) == []
    rec.cache.snapshot = Aggregates(trending={"SE": ("B",)})
    assert [p.sku for p in rec.recommend(["trending_in_region"], 4, NONE, context)] == ["B"]


def test_replace_catalog() -> None:
    rec = recommender(SNAPSHOT)
    rec.replace_catalog([Product("H", "Hat v2", category="summer")])
    found = rec.recommend(["trending_in_region"], 4, NONE, RecommendContext(country="SE"))
    assert [(p.sku, p.name) for p in found] == [("H", "Hat v2")]


def write(path: Path, names: list[str], mtime_ns: int) -> None:
    path.write_text(json.dumps({"products": [{"sku": n, "name": n} for n in names]}))
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_catalog_file_reloads_on_change_at_most_every_interval(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    write(path, ["A"], 1_000_000_000)
    clock = [100.0]
    catalog = CatalogFile(path, interval=5.0, clock=lambda: clock[0])
    assert [p.sku for p in catalog.products] == ["A"]
    write(path, ["A", "B"], 2_000_000_000)
    clock[0] = 103.0
    assert catalog.check() is False  # not yet: at most every 5 s
    clock[0] = 105.0
    assert catalog.check() is True
    assert [p.sku for p in catalog.products] == ["A", "B"]
    clock[0] = 111.0
    assert catalog.check() is False  # unchanged
    path.write_text("{ not json")
    os.utime(path, ns=(3_000_000_000, 3_000_000_000))
    clock[0] = 117.0
    assert catalog.check() is False  # broken: the last good products stay
    assert [p.sku for p in catalog.products] == ["A", "B"]
    path.unlink()
    clock[0] = 123.0
    assert catalog.check() is False and len(catalog.products) == 2
