"""The cart cookie codec and its operations (pure)."""

from __future__ import annotations

import pytest

from gateway.demo.cart import (
    MAX_LINES,
    MAX_QUANTITY,
    add_item,
    format_cart,
    item_count,
    parse_cart,
    remove_item,
)

KNOWN = {"RW-001", "SU-004", "HO-002"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, {}),
        ("", {}),
        ("RW-001:2", {"RW-001": 2}),
        ("RW-001:2|SU-004:1", {"RW-001": 2, "SU-004": 1}),
        ("RW-001:2|RW-001:3", {"RW-001": 5}),  # repeated lines add up
        ("RW-001:15|RW-001:15", {"RW-001": MAX_QUANTITY}),  # capped
        ("XX-999:1|RW-001:1", {"RW-001": 1}),  # unknown SKU dropped
        ("RW-001:0", {}),
        ("RW-001:-1", {}),
        ("RW-001:1.5", {}),
        ("RW-001:1e3", {}),
        ("RW-001:9999", {}),  # more than three digits is not a quantity
        ("RW-001", {}),
        ("RW-001:", {}),
        (":3", {}),
        ("|||", {}),
        ("rw-001:1", {}),  # SKUs are case-sensitive
        ("RW-001:2|garbage|HO-002:1", {"RW-001": 2, "HO-002": 1}),
        ("RW-001:２", {}),  # a full-width digit is str.isdigit() but not ASCII; int() would take it
    ],
)
def test_parse(value: str | None, expected: dict[str, int]) -> None:
    assert parse_cart(value, KNOWN) == expected


def test_parse_limits_lines() -> None:
    known = {f"S-{i}" for i in range(MAX_LINES + 5)}
    value = "|".join(f"S-{i}:1" for i in range(MAX_LINES + 5))
    assert len(parse_cart(value, known)) == MAX_LINES


@pytest.mark.parametrize("cart", [{}, {"RW-001": 1}, {"RW-001": 2, "SU-004": 20, "HO-002": 7}])
def test_round_trip(cart: dict[str, int]) -> None:
    assert parse_cart(format_cart(cart), KNOWN) == cart


def test_format_skips_empty_lines() -> None:
    assert format_cart({"RW-001": 0, "SU-004": 2}) == "SU-004:2"


@pytest.mark.parametrize(
    ("cart", "sku", "qty", "stock", "expected"),
    [
        ({}, "RW-001", 1, 10, {"RW-001": 1}),
        ({"RW-001": 2}, "RW-001", 3, 10, {"RW-001": 5}),
        ({"RW-001": 2}, "RW-001", 30, 10, {"RW-001": 10}),  # capped by stock
        ({}, "RW-001", 50, 100, {"RW-001": MAX_QUANTITY}),  # capped by the cart limit
        ({}, "RW-001", 1, 0, {}),  # sold out
        ({}, "RW-001", -4, 10, {}),
        ({"SU-004": 1}, "RW-001", 1, 10, {"SU-004": 1, "RW-001": 1}),
    ],
)
def test_add(
    cart: dict[str, int], sku: str, qty: int, stock: int, expected: dict[str, int]
) -> None:
    before = dict(cart)
    assert add_item(cart, sku, qty, stock) == expected
    assert cart == before  # inputs are not mutated


def test_add_refuses_a_new_line_when_full() -> None:
    full = {f"S-{i}": 1 for i in range(MAX_LINES)}
    assert add_item(full, "NEW", 1, 5) == full
    assert add_item(full, "S-0", 1, 5)["S-0"] == 2


def test_remove_and_count() -> None:
    cart = {"RW-001": 2, "SU-004": 3}
    assert remove_item(cart, "RW-001") == {"SU-004": 3}
    assert remove_item(cart, "XX") == cart
    assert item_count(cart) == 5
    assert item_count({}) == 0
