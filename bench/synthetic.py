"""The vocabulary the rule benchmarks (`conditions.py`, `rules.py`) draw synthetic rules from:
ten slots, the first four of which pages carry, and the countries rules target."""

SLOTS = [
    "hero-banner",
    "recommendations",
    "promo-strip",
    "footer-offer",
    "cart-upsell",
    "sidebar",
    "newsletter",
    "shipping-note",
    "weather-tip",
    "header-note",
]
COUNTRIES = ["GB", "SE", "US", "TH", "SA", "DE", "FR", "IE", "NL", "ES"]
