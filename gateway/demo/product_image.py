"""Product pictures drawn as SVG from the catalog entry: no image files, no network."""

from __future__ import annotations

from html import escape

from gateway.demo.products import Product

# Background and accent per category; unknown categories get the neutral pair.
PALETTE: dict[str, tuple[str, str]] = {
    "rainwear": ("#dbe9f6", "#2f6690"),
    "outdoor": ("#e3eadf", "#4a6741"),
    "summer": ("#fbeed3", "#d08c17"),
    "home": ("#efe3ec", "#8a4f7d"),
}
NEUTRAL = ("#eeeeee", "#555555")

# One simple glyph per category (SVG path data on a 100x100 box).
GLYPH: dict[str, str] = {
    "rainwear": "M50 18 C28 18 14 34 12 50 L88 50 C86 34 72 18 50 18 Z M49 50 L49 78 "
    "C49 84 41 84 41 78",
    "outdoor": "M10 80 L38 34 L52 56 L64 40 L90 80 Z",
    "summer": "M50 30 A20 20 0 1 1 49.9 30 Z M50 8 L50 20 M50 80 L50 92 M8 50 L20 50 M80 50 L92 50",
    "home": "M16 52 L50 22 L84 52 M26 44 L26 82 L74 82 L74 44",
}


def product_svg(product: Product) -> str:
    """An SVG picture for `product`: category colours, a glyph and the product name."""
    background, accent = PALETTE.get(product.category, NEUTRAL)
    glyph = GLYPH.get(product.category, "M20 20 H80 V80 H20 Z")
    name = escape(product.name)
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 400 300" role="img" '
        f'aria-label="{name}">'
        f'<rect width="400" height="300" fill="{background}"/>'
        f'<g transform="translate(140 50) scale(1.2)" fill="none" stroke="{accent}" '
        f'stroke-width="6" stroke-linecap="round" stroke-linejoin="round">'
        f'<path d="{glyph}"/></g>'
        f'<text x="200" y="262" text-anchor="middle" font-family="system-ui, sans-serif" '
        f'font-size="22" fill="{accent}">{name}</text></svg>'
    )
