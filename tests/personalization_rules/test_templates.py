"""Banner templates: auto-escaped, sandboxed, the attributes they read; product lists."""

from __future__ import annotations

import re
from typing import Any

import pytest

from personalization_rules.recommender import Product
from personalization_rules.templates import (
    BannerTemplate,
    TemplateProblem,
    format_price,
    render_products,
)


@pytest.mark.parametrize(
    ("source", "context", "html"),
    [
        (
            "<h2>{{ t }}</h2>",
            {"t": "<script>alert(1)</script>"},
            "<h2>&lt;script&gt;alert(1)&lt;/script&gt;</h2>",
        ),
        (
            '<a title="{{ t }}">x</a>',
            {"t": '" onmouseover="x'},
            '<a title="&#34; onmouseover=&#34;x">x</a>',
        ),
        ("In {{ geo.city }}", {"geo": {"city": "São Paulo & Co"}}, "In São Paulo &amp; Co"),
        ("{{ weather.temperature }}°", {"weather": {"temperature": None}}, "°"),
        (
            "{% if weather.temperature < 5 %}cold{% else %}mild{% endif %}",
            {"weather": {"temperature": 2}},
            "cold",
        ),
    ],
)
def test_render_escapes(source: str, context: dict[str, Any], html: str) -> None:
    assert BannerTemplate(source).render(context) == html


@pytest.mark.parametrize(
    "source",
    [
        "{{ t.__class__ }}",
        "{{ t.__class__.__mro__[1].__subclasses__() }}",
        "{{ t.upper.__globals__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ items.append(1) }}",  # immutable sandbox: no mutating the values passed in
        "{{ missing }}",  # StrictUndefined: an error, not an empty string
        "{{ (10 ** 60) ** 60 }}",  # huge powers: CPU-bound denial of service
        "{{ 2 ** 5000 }}",
        "{{ t ** 2 }}",
        "{% for i in range(10**6) %}xxxxxxxxxxxxxxxxxxxxxxxxxx{% endfor %}",  # output cap
    ],
)
def test_sandbox_refuses(source: str) -> None:
    items: list[int] = []
    assert BannerTemplate(source).render({"t": "x", "items": items}) is None
    assert items == []


def test_small_powers_are_fine() -> None:
    assert BannerTemplate("{{ 2 ** 10 }}").render({}) == "1024"
    assert BannerTemplate("{{ 1.5 ** 2 }}").render({}) == "2.25"


def test_syntax_error_has_a_line() -> None:
    with pytest.raises(TemplateProblem) as caught:
        BannerTemplate("<p>\n{% if %}\n</p>")
    assert caught.value.line == 2


@pytest.mark.parametrize(
    ("source", "fields"),
    [
        ("{{ geo.city }} {{ weather['condition'] }}", {"geo.city", "weather.condition"}),
        ("{{ geo }}", {"geo"}),
        ("{% for p in picks %}{{ p.name }}{% endfor %}", {"picks"}),
        ("{% set x = 1 %}{{ x }}{{ title }}", {"title"}),
        ("plain", set()),
    ],
)
def test_template_fields(source: str, fields: set[str]) -> None:
    assert BannerTemplate(source).fields == fields


@pytest.mark.parametrize(
    ("source", "required"),
    [
        ("{{ geo.city }}", {"geo.city"}),
        ("{{ weather.temperature }} in {{ geo['city'] }}", {"weather.temperature", "geo.city"}),
        ("{% if geo.city %}in {{ geo.city }}{% endif %}", set()),
        ("{{ geo.city if geo.city else 'your town' }}", set()),
        ("{{ geo.city|default('your town') }}", set()),
        ("{{ geo.city|d('your town') }}", set()),
        # The guard is on another field: the city is still read unguarded.
        ("{% if geo.country %}{{ geo.city }}{% endif %}", {"geo.city"}),
        # A default's own argument is evaluated, so it is read unguarded.
        ("{{ title|default(geo.city) }}", {"geo.city"}),
        ("{% for s in visitor.engaged_skus %}{{ s }}{% endfor %}", {"visitor.engaged_skus"}),
        ("{% set c = geo.city %}{{ c }}", {"geo.city"}),
        ("plain", set()),
    ],
)
def test_unguarded_fields(source: str, required: set[str]) -> None:
    assert BannerTemplate(source).required == required


def test_render_products_escapes_everything() -> None:
    html = render_products(
        [
            Product(
                "A&1",
                "<b>Boots</b>",
                url="javascript:alert(1)",
                image='x" onerror="y',
                price=9.5,
                currency="EUR",
            ),
            Product("B", "Hat", url="/product/B"),
        ],
        title="For <you>",
    )
    assert '<h2 class="consentgate-recs-title">For &lt;you&gt;</h2>' in html
    assert 'data-sku="A&amp;1"' in html
    assert "&lt;b&gt;Boots&lt;/b&gt;" in html
    assert 'href="#"' in html and "javascript" not in html
    assert 'src="x&#34; onerror=&#34;y"' in html
    assert '<span class="consentgate-price">€9.50</span>' in html
    assert 'href="/product/B"' in html


@pytest.mark.parametrize(
    ("url", "href"),
    [
        ("/p/1", "/p/1"),
        ("https://shop.example/p", "https://shop.example/p"),
        ("//evil.example/", "#"),
        ("JavaScript:x", "#"),
        ("data:text/html,x", "#"),
    ],
)
def test_product_links(url: str, href: str) -> None:
    assert f'href="{href}"' in render_products([Product("A", "A", url=url)])


@pytest.mark.parametrize(
    ("price", "currency", "language", "shown"),
    [
        # Babel's CLDR output, pinned: what the shop itself writes in English ("€59.00") …
        (59.0, "EUR", "en", "€59.00"),
        (1234.5, "USD", "en", "$1,234.50"),
        (1234.5, "GBP", "en", "£1,234.50"),
        # … Arabic: right-to-left mark, amount, no-break space, symbol after …
        (59.0, "EUR", "ar", "\u200f59.00\u00a0€"),
        (1234.5, "EUR", "ar", "\u200f1,234.50\u00a0€"),
        # … Thai: the baht sign for THB, symbol first.
        (59.0, "EUR", "th", "€59.00"),
        (1234.5, "THB", "th", "฿1,234.50"),
        (1234.5, "THB", "en", "THB1,234.50"),
        # A catalog writing the code in lower case means the same currency.
        (9.5, " eur ", "en", "€9.50"),
        # CLDR does not know the locale, or no currency: plain digits, still a price.
        (9.5, "EUR", "xx", "9.50 EUR"),
        (9.5, "", "en", "9.50"),
    ],
)
def test_prices_are_formatted_by_cldr(
    price: float, currency: str, language: str, shown: str
) -> None:
    assert format_price(Product("A", "A", price=price, currency=currency), language) == shown


def test_grid_markup_and_its_switchable_stylesheet() -> None:
    products = [Product("A", "Wellington Boots", url="/p/A", price=59.0, currency="EUR")]
    styled = render_products(products, "Picks", language="ar")
    assert styled.count("<style>") == 1 and ".consentgate-grid{display:grid" in styled
    # Every selector of the default stylesheet is scoped to the gateway's own classes.
    rules = re.findall(r"([^{}]+)\{[^}]*\}", styled[styled.index("<style>") + 7 :])
    selectors = [s.strip() for rule in rules for s in rule.split(",")]
    assert selectors and all(s.startswith(".consentgate-") for s in selectors), selectors
    # Name and price are separate elements (a shop without styles shows them apart too).
    assert (
        '<span class="consentgate-name">Wellington Boots</span>'
        '<span class="consentgate-price">\u200f59.00\u00a0€</span>'
    ) in styled
    plain = render_products(products, "Picks", styles=False)
    assert "<style>" not in plain and '<ul class="consentgate-grid">' in plain
    assert "€59.00" in plain
