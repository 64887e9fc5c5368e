"""The demo shop's cart, kept in one cookie: `cart=SKU:QTY|SKU:QTY`.

Pure functions over a `{sku: quantity}` mapping; the shop reads and writes the cookie. The value
uses only RFC 6265 §4.1.1 cookie-octets (letters, digits, '-', ':', '|'), so no quoting is needed.
Anything unreadable in a cookie is dropped rather than trusted: the cookie is client input.
"""

from __future__ import annotations

from collections.abc import Container, Mapping

COOKIE_NAME = "cart"
MAX_QUANTITY = 20
MAX_LINES = 30


def parse_cart(value: str | None, known_skus: Container[str]) -> dict[str, int]:
    """The cart in a cookie value; unknown SKUs, bad quantities and extra lines are dropped."""
    cart: dict[str, int] = {}
    for item in (value or "").split("|"):
        sku, sep, qty = item.partition(":")
        # ASCII digits only: str.isdigit() alone accepts '２' (full-width), which int() reads.
        if not sep or sku not in known_skus or not (qty.isascii() and qty.isdigit()):
            continue
        if len(qty) > 3:
            continue
        quantity = int(qty)
        if 1 <= quantity and len(cart) < MAX_LINES:
            cart[sku] = min(cart.get(sku, 0) + quantity, MAX_QUANTITY)
    return cart


def format_cart(cart: Mapping[str, int]) -> str:
    """The cookie value for `cart` (empty string for an empty cart)."""
    return "|".join(f"{sku}:{qty}" for sku, qty in cart.items() if qty > 0)


def add_item(cart: Mapping[str, int], sku: str, quantity: int, stock: int) -> dict[str, int]:
    """`cart` with `quantity` more of `sku`, capped by stock and `MAX_QUANTITY`."""
    result = dict(cart)
    if len(result) >= MAX_LINES and sku not in result:
        return result
    total = min(result.get(sku, 0) + max(quantity, 0), stock, MAX_QUANTITY)
    if total > 0:
        result[sku] = total
    return result


def remove_item(cart: Mapping[str, int], sku: str) -> dict[str, int]:
    """`cart` without `sku`."""
    return {k: v for k, v in cart.items() if k != sku}


def item_count(cart: Mapping[str, int]) -> int:
    """How many items the cart holds in all."""
    return sum(cart.values())
