"""The catalog-only recommender: strategies, fallbacks, exclusions, catalog files."""

from __future__ import annotations

from pathlib import Path

import pytest

from personalization_rules.recommender import (
    CatalogRecommender,
    Product,
    RecommendContext,
    load_products,
    weather_tags,
)

CATALOG = [
    Product("J", "Jacket", category="rainwear", tags=("rain", "cold"), stock=5, popularity=90),
    Product("U", "Umbrella", category="rainwear", tags=("rain",), stock=0, popularity=80),
    Product("B", "Boots", category="rainwear", tags=("rain", "mud"), stock=3, popularity=50),
    Product("S", "Sunscreen", category="summer", tags=("hot", "sun"), stock=9, popularity=95),
    Product("H", "Hat", category="summer", tags=("sun",), popularity=40),  # stock unknown
    Product("F", "Fleece", category="outdoor", tags=("cold",), stock=2, popularity=60),
]
ALL = frozenset({"out_of_stock", "purchased", "current"})


def skus(
    strategies: list[str],
    context: RecommendContext,
    count: int = 10,
    exclusions: frozenset[str] = ALL,
) -> list[str]:
    found = CatalogRecommender(CATALOG).recommend(strategies, count, exclusions, context)
    return [p.sku for p in found]


@pytest.mark.parametrize(
    ("strategies", "context", "expected"),
    [
        (["bestsellers"], RecommendContext(), ["S", "J", "F", "B", "H"]),  # U out of stock
        (["category_bestsellers"], RecommendContext(page_category="summer"), ["S", "H"]),
        (["category_bestsellers"], RecommendContext(), []),
        (["weather_picks"], RecommendContext(weather="rain", temperature=8), ["J", "F", "B"]),
        (["weather_picks"], RecommendContext(weather="clear", temperature=30), ["S"]),
        (["weather_picks"], RecommendContext(weather="unknown"), []),
        (["recently_viewed"], RecommendContext(viewed_skus=("F", "nope", "B")), ["F", "B"]),
        (["similar"], RecommendContext(page_sku="J"), ["B", "F"]),  # U out of stock
        (["similar"], RecommendContext(viewed_skus=("S",)), ["H"]),
        (["trending_in_region", "bought_together"], RecommendContext(), []),  # need aggregates
        # Fallbacks fill what the first strategy left, without duplicates.
        (
            ["category_bestsellers", "bestsellers"],
            RecommendContext(page_category="summer"),
            ["S", "H", "J", "F", "B"],
        ),
        # Exclusions: the current product and what the visitor bought.
        (["bestsellers"], RecommendContext(page_sku="S", purchased_skus=("J",)), ["F", "B", "H"]),
    ],
)
def test_strategies(strategies: list[str], context: RecommendContext, expected: list[str]) -> None:
    assert skus(strategies, context) == expected


def test_count_and_no_exclusions() -> None:
    assert skus(["bestsellers"], RecommendContext(), count=2) == ["S", "J"]
    assert skus(["bestsellers"], RecommendContext(), exclusions=frozenset())[:3] == ["S", "J", "U"]


@pytest.mark.parametrize(
    ("condition", "temperature", "tags"),
    [
        ("rain", 12.0, {"rain"}),
        ("storm", None, {"rain"}),
        ("snow", -3.0, {"snow", "cold"}),
        ("clear", 25.0, {"hot"}),
        ("cloudy", 10.0, {"cold"}),
        ("fog", 15.0, set()),
    ],
)
def test_weather_tags(condition: str, temperature: float | None, tags: set[str]) -> None:
    assert weather_tags(condition, temperature) == tags


def test_load_demo_catalog() -> None:
    root = Path(__file__).resolve().parents[2]
    products = load_products(root / "gateway" / "demo" / "catalog.json")
    assert len(products) == 24
    jacket = next(p for p in products if p.sku == "RW-001")
    assert jacket.tags == ("rain", "wind", "cold") and jacket.url == "/product/RW-001"
    assert not next(p for p in products if p.sku == "RW-006").in_stock


def test_load_csv_catalog(tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_text(
        "sku,name,price,category,tags,stock,popularity\n"
        "A,Alpha,9.90,rainwear,rain|cold,3,7\n"
        ",No sku,1,x,,1,1\n"
        "B,Beta,oops,summer,hot;sun,,\n",
        encoding="utf-8",
    )
    a, b = load_products(path)
    assert (a.sku, a.price, a.tags, a.stock, a.popularity) == ("A", 9.9, ("rain", "cold"), 3, 7)
    assert (b.price, b.tags, b.stock, b.popularity) == (None, ("hot", "sun"), None, 0.0)
