"""Recommendation strategies: the `Recommender` protocol and a catalog-only implementation.

A `recommend` action names strategies in order of preference; the engine drops the personal
ones when their purpose is not granted, and a `Recommender` turns what is left into products,
filling `count` from the first strategy, then the next, skipping exclusions. Strategies:

- non-personal: `bestsellers` (catalog `popularity`), `category_bestsellers` (the page's
  category), `trending_in_region` and `weather_picks` (catalog tags rain, snow, cold, hot);
- personal (read the visitor's own behaviour): `recently_viewed`, `bought_together`
  (with the visitor's purchases), `similar` (shares category or tags with what they view).

`CatalogRecommender` needs nothing but the catalog: aggregate strategies (trending,
bought-together) answer nothing here and fall through to the next strategy; the
recommendations module with k-anonymous event aggregates replaces it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, Protocol, get_args

Strategy = Literal[
    "bestsellers",
    "recently_viewed",
    "category_bestsellers",
    "trending_in_region",
    "bought_together",
    "similar",
    "weather_picks",
]
STRATEGIES: Final[tuple[str, ...]] = get_args(Strategy)
# Strategies that read the visitor's own behaviour (data category behavior.profile).
PERSONAL_STRATEGIES: Final = frozenset({"recently_viewed", "bought_together", "similar"})
Exclusion = Literal["purchased", "out_of_stock", "current"]

COLD_AT_OR_BELOW_C = 10.0
HOT_AT_OR_ABOVE_C = 25.0


@dataclass(frozen=True)
class Product:
    """A catalog product, as much as recommendations and their HTML need."""

    sku: str
    name: str
    url: str = ""
    image: str = ""
    price: float | None = None
    currency: str = ""
    category: str = ""
    tags: tuple[str, ...] = ()
    stock: int | None = None  # None: unknown, counts as in stock
    popularity: float = 0.0

    @property
    def in_stock(self) -> bool:
        """False only when the catalog says none are left."""
        return self.stock is None or self.stock > 0


@dataclass(frozen=True)
class RecommendContext:
    """What strategies may know about this request; personal fields empty without consent."""

    page_sku: str | None = None
    page_category: str | None = None
    weather: str = "unknown"
    temperature: float | None = None
    country: str | None = None
    viewed_skus: tuple[str, ...] = ()
    purchased_skus: tuple[str, ...] = ()


class Recommender(Protocol):
    """Resolves strategies to products."""

    def recommend(
        self,
        strategies: Sequence[str],
        count: int,
        exclusions: frozenset[str],
        context: RecommendContext,
    ) -> list[Product]:
        """Up to `count` products, filled from `strategies` in order, none excluded."""
        ...


class CatalogRecommender:
    """Non-aggregate strategies over a catalog (see the module docstring)."""

    def __init__(self, products: Iterable[Product]) -> None:
        self.products = tuple(products)
        self.by_sku = {p.sku: p for p in self.products}
        self.ranked = sorted(self.products, key=lambda p: (-p.popularity, p.sku))

    def recommend(
        self,
        strategies: Sequence[str],
        count: int,
        exclusions: frozenset[str],
        context: RecommendContext,
    ) -> list[Product]:
        """Fill `count` from each strategy in turn; duplicates and exclusions skipped."""
        excluded: set[str] = set()
        if "purchased" in exclusions:
            excluded.update(context.purchased_skus)
        if "current" in exclusions and context.page_sku:
            excluded.add(context.page_sku)
        out: list[Product] = []
        for strategy in strategies:
            for product in self.candidates(strategy, context):
                if len(out) >= count:
                    return out
                if product.sku in excluded:
                    continue
                if "out_of_stock" in exclusions and not product.in_stock:
                    continue
                excluded.add(product.sku)
                out.append(product)
        return out

    def candidates(self, strategy: str, context: RecommendContext) -> list[Product]:
        """Products of one strategy, best first."""
        if strategy == "bestsellers":
            return list(self.ranked)
        if strategy == "category_bestsellers":
            category = context.page_category
            return [p for p in self.ranked if category and p.category == category]
        if strategy == "weather_picks":
            return self.weather_picks(context)
        if strategy == "recently_viewed":
            return [self.by_sku[s] for s in context.viewed_skus if s in self.by_sku]
        if strategy == "similar":
            return self.similar(context)
        return []  # trending_in_region, bought_together: need event aggregates

    def weather_picks(self, context: RecommendContext) -> list[Product]:
        """Products tagged for the weather, most matching tags first."""
        wanted = weather_tags(context.weather, context.temperature)
        scored = [(len(wanted & set(p.tags)), p) for p in self.ranked]
        return [p for score, p in sorted(scored, key=lambda sp: -sp[0]) if score > 0]

    def similar(self, context: RecommendContext) -> list[Product]:
        """Products sharing the category or tags of the page's or last viewed product."""
        anchor_sku = context.page_sku or next(iter(context.viewed_skus), None)
        anchor = self.by_sku.get(anchor_sku) if anchor_sku else None
        if anchor is None:
            return []
        tags = set(anchor.tags)

        def score(p: Product) -> int:
            return len(tags & set(p.tags)) + (2 if p.category == anchor.category else 0)

        scored = [(score(p), p) for p in self.ranked if p.sku != anchor.sku]
        return [p for s, p in sorted(scored, key=lambda sp: -sp[0]) if s > 0]


def weather_tags(condition: str, temperature: float | None) -> set[str]:
    """Catalog tags that suit the weather: rain, snow, cold, hot."""
    tags: set[str] = set()
    if condition in ("rain", "storm"):
        tags.add("rain")
    if condition == "snow":
        tags.update(("snow", "cold"))
    if temperature is not None and temperature <= COLD_AT_OR_BELOW_C:
        tags.add("cold")
    if temperature is not None and temperature >= HOT_AT_OR_ABOVE_C:
        tags.add("hot")
    return tags


def load_products(path: Path) -> list[Product]:
    """Products of a JSON (`{"products": [...]}` or a list) or CSV catalog file.

    CSV tags are separated by `|` or `;`. Raises ValueError for a file that does not parse.
    """
    text = path.read_text(encoding="utf-8-sig")
    rows: list[Any]
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
    else:
        data = json.loads(text)
        rows = data.get("products", []) if isinstance(data, dict) else data
    if not isinstance(rows, list):
        raise ValueError("a catalog holds a list of products")
    return [p for p in (product_from_row(r) for r in rows) if p is not None]


def product_from_row(row: object) -> Product | None:
    """A `Product` from one catalog row; None when it has no SKU (or id) and name."""
    if not isinstance(row, dict):
        return None
    sku = str(row.get("sku") or row.get("id") or "").strip()
    name = str(row.get("name") or "").strip()
    if not sku or not name:
        return None
    tags = row.get("tags") or ()
    if isinstance(tags, str):
        tags = [t for t in tags.replace(";", "|").split("|")]
    return Product(
        sku=sku,
        name=name,
        url=str(row.get("url") or ""),
        image=str(row.get("image") or ""),
        price=_number(row.get("price")),
        currency=str(row.get("currency") or ""),
        category=str(row.get("category") or ""),
        tags=tuple(str(t).strip() for t in tags if str(t).strip()),
        stock=None if (stock := _number(row.get("stock"))) is None else int(stock),
        popularity=_number(row.get("popularity")) or 0.0,
    )


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value.strip():
        try:
            return float(value)
        except ValueError:
            return None
    return None
