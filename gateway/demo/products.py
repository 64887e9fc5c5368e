"""The demo shop's product catalog: `catalog.json` next to this module, loaded once.

The same file is the config's `catalog` in the demo, so the gateway's recommendations and the
shop's pages agree on SKUs, names, prices and tags.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

CATALOG_PATH = Path(__file__).with_name("catalog.json")


@dataclass(frozen=True)
class Category:
    """A shelf of the shop."""

    id: str
    name: str
    description: str


@dataclass(frozen=True)
class Product:
    """One product as the catalog describes it."""

    id: str
    sku: str
    name: str
    price: Decimal
    currency: str
    category: str
    tags: tuple[str, ...]
    stock: int
    popularity: int
    description: str
    image: str
    url: str

    @property
    def in_stock(self) -> bool:
        """True while at least one item can be sold."""
        return self.stock > 0


@dataclass(frozen=True)
class Catalog:
    """Categories and products in file order, with lookups by id and SKU."""

    categories: tuple[Category, ...]
    products: tuple[Product, ...]

    def product(self, sku: str) -> Product | None:
        """The product with `sku`, or None."""
        return next((p for p in self.products if p.sku == sku), None)

    def category(self, category_id: str) -> Category | None:
        """The category with `category_id`, or None."""
        return next((c for c in self.categories if c.id == category_id), None)

    def in_category(self, category_id: str) -> list[Product]:
        """The products of one category, in file order."""
        return [p for p in self.products if p.category == category_id]

    def bestsellers(self, limit: int, exclude: str | None = None) -> list[Product]:
        """The most popular products in stock (the shop's own, unpersonalized picks)."""
        ranked = sorted(
            (p for p in self.products if p.in_stock and p.sku != exclude),
            key=lambda p: (-p.popularity, p.sku),
        )
        return ranked[:limit]


def parse_catalog(data: dict[str, Any]) -> Catalog:
    """Build a `Catalog` from the decoded JSON; raises ValueError on a malformed file."""
    try:
        categories = tuple(
            Category(c["id"], c["name"], c["description"]) for c in data["categories"]
        )
        products = tuple(
            Product(
                id=p["id"],
                sku=p["sku"],
                name=p["name"],
                # Money as Decimal from the JSON text, so 0.1 + 0.2 sums like a till does.
                price=Decimal(str(p["price"])).quantize(Decimal("0.01")),
                currency=p["currency"],
                category=p["category"],
                tags=tuple(p["tags"]),
                stock=int(p["stock"]),
                popularity=int(p.get("popularity", 0)),
                description=p["description"],
                image=p["image"],
                url=p["url"],
            )
            for p in data["products"]
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed catalog: {exc!r}") from exc
    known = {c.id for c in categories}
    for product in products:
        if product.category not in known:
            raise ValueError(f"{product.sku}: unknown category {product.category!r}")
    if len({p.sku for p in products}) != len(products):
        raise ValueError("duplicate SKU in catalog")
    return Catalog(categories, products)


def load_catalog(path: Path = CATALOG_PATH) -> Catalog:
    """Read and parse the catalog file."""
    return parse_catalog(json.loads(path.read_text(encoding="utf-8")))
