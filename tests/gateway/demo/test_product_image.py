"""Product pictures are well-formed SVG that escape the product name."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET

import pytest

from gateway.demo.product_image import product_svg
from gateway.demo.products import load_catalog

CATALOG = load_catalog()


@pytest.mark.parametrize("product", CATALOG.products, ids=lambda p: p.sku)
def test_every_product_has_a_valid_svg(product: object) -> None:
    svg = ET.fromstring(product_svg(product))  # type: ignore[arg-type]
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"


def test_name_is_escaped_and_unknown_category_drawn() -> None:
    odd = dataclasses.replace(CATALOG.products[0], name='<b>"Tom & Jerry"</b>', category="misc")
    svg = product_svg(odd)
    root = ET.fromstring(svg)
    assert root.get("aria-label") == '<b>"Tom & Jerry"</b>'
    assert "<b>" not in svg
