"""The bundled catalog file and its parser."""

from __future__ import annotations

import copy
import json
import re
from decimal import Decimal
from typing import Any

import pytest

from gateway.demo.products import CATALOG_PATH, load_catalog, parse_catalog

RAW: dict[str, Any] = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))


def test_bundled_catalog_shape() -> None:
    catalog = load_catalog()
    assert len(catalog.products) == 24
    assert [c.id for c in catalog.categories] == ["rainwear", "outdoor", "summer", "home"]
    for category in catalog.categories:
        assert len(catalog.in_category(category.id)) == 6
    # The weather tags personalization rules will match on are all present.
    tags = {t for p in catalog.products for t in p.tags}
    assert {"rain", "cold", "hot", "sun"} <= tags
    for p in catalog.products:
        assert re.fullmatch(r"[A-Z]{2}-\d{3}", p.sku)
        assert p.id == p.sku.lower()
        assert p.price > 0 and p.price == p.price.quantize(Decimal("0.01"))
        assert p.currency == "EUR"
        assert p.image == f"/images/{p.sku}.svg" and p.url == f"/product/{p.sku}"
    # At least one sold-out product, so the shop's sold-out path is exercised.
    assert any(not p.in_stock for p in catalog.products)


def test_lookups() -> None:
    catalog = load_catalog()
    assert catalog.product("RW-001") is not None
    assert catalog.product("rw-001") is None
    assert catalog.category("summer") is not None
    assert catalog.category("winter") is None
    top = catalog.bestsellers(5)
    assert len(top) == 5
    assert all(p.in_stock for p in top)
    assert [p.popularity for p in top] == sorted((p.popularity for p in top), reverse=True)
    assert top[0].sku not in {p.sku for p in catalog.bestsellers(5, exclude=top[0].sku)}


def _broken(change: str) -> dict[str, Any]:
    data = copy.deepcopy(RAW)
    if change == "no-products":
        del data["products"]
    elif change == "no-price":
        del data["products"][0]["price"]
    elif change == "tags-none":
        data["products"][0]["tags"] = None
    elif change == "unknown-category":
        data["products"][0]["category"] = "winter"
    elif change == "duplicate-sku":
        data["products"][1]["sku"] = data["products"][0]["sku"]
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("no-products", "malformed catalog"),
        ("no-price", "malformed catalog"),
        ("tags-none", "malformed catalog"),
        ("unknown-category", "unknown category 'winter'"),
        ("duplicate-sku", "duplicate SKU"),
    ],
)
def test_malformed(change: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_catalog(_broken(change))


def test_price_is_exact_decimal() -> None:
    data = copy.deepcopy(RAW)
    data["products"][0]["price"] = 0.1
    assert parse_catalog(data).products[0].price == Decimal("0.10")
