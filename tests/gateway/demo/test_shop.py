"""The demo shop served for real by granian on loopback, fetched with httpx."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator

import httpx
import pytest

from gateway.demo.products import load_catalog
from tests import procs

pytestmark = pytest.mark.e2e

CATALOG = load_catalog()
IN_STOCK = next(p for p in CATALOG.products if p.in_stock)
SOLD_OUT = next(p for p in CATALOG.products if not p.in_stock)

# The contract's prior-blocking markup and the unmarked vendor tags the gateway must catch.
MARKED = [
    '<script type="text/plain" data-consent="analytics" async '
    'src="https://www.googletagmanager.com/gtag/js?id=G-DEMO">',
    '<img data-consent="marketing" data-src="https://www.facebook.com/tr?id=1&ev=PageView"',
    '<script type="text/plain" data-consent="personalization">',
]
UNMARKED = [
    '<script async src="https://connect.facebook.net/en_US/fbevents.js">',
    'src="https://static.hotjar.com/c/hotjar-1.js',
    'src="https://analytics.tiktok.com/i18n/pixel/events.js',
]
SLOTS = ['<div data-slot="hero-banner">', '<div data-slot="recommendations">']


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = procs.free_port()
    argv = [
        sys.executable, "-m", "granian", "--interface", "asgi", "--no-ws",
        "--host", "127.0.0.1", "--port", str(port), "gateway.demo.shop:app",
    ]  # fmt: skip
    with procs.serve("shop", argv, port, "/") as server:
        yield server.url


@pytest.fixture
def client(shop: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shop, follow_redirects=False) as c:
        yield c


def test_home_has_slots_trackers_and_grid(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    html = response.text
    for needle in [*SLOTS, *MARKED, *UNMARKED]:
        assert needle in html, needle
    assert '<iframe src="https://www.youtube.com/embed/' in html
    assert "data-product-grid" in html
    assert len(re.findall(r'<article class="card">', html)) == 12  # 8 bestsellers + 4 picks
    # Slot defaults are real content, not empty placeholders.
    hero = html.split('data-slot="hero-banner">', 1)[1].split("</div>", 1)[0]
    assert "Gear for every weather" in hero


def test_home_sets_ga_cookie_once(client: httpx.Client) -> None:
    first = client.get("/")
    cookie = first.headers["set-cookie"]
    assert re.match(r"_ga=GA1\.1\.\d{9}\.\d+; Max-Age=63072000; Path=/; SameSite=lax$", cookie)
    again = client.get("/", headers={"Cookie": "_ga=GA1.1.1.1"})
    assert "set-cookie" not in again.headers


@pytest.mark.parametrize("product", CATALOG.products, ids=lambda p: p.sku)
def test_every_product_page(client: httpx.Client, product: object) -> None:
    sku = product.sku  # type: ignore[attr-defined]
    response = client.get(f"/product/{sku}")
    assert response.status_code == 200
    for needle in [*SLOTS, *MARKED, *UNMARKED]:
        assert needle in response.text, needle
    assert f'data-sku="{sku}"' in response.text
    # Only the home page hands out the analytics cookie.
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize("category", [c.id for c in CATALOG.categories])
def test_category_pages(client: httpx.Client, category: str) -> None:
    response = client.get(f"/category/{category}")
    assert response.status_code == 200
    assert response.text.count('<article class="card">') == 6


def test_cart_add_remove_checkout(client: httpx.Client) -> None:
    added = client.post("/cart/add", data={"sku": IN_STOCK.sku, "quantity": "2"})
    assert added.status_code == 303
    assert added.headers["location"] == "/cart"
    assert re.match(
        rf"cart={IN_STOCK.sku}:2; HttpOnly; Max-Age=\d+; Path=/; SameSite=lax$",
        added.headers["set-cookie"],
    )
    cookie = {"Cookie": f"cart={IN_STOCK.sku}:2"}
    cart = client.get("/cart", headers=cookie)
    assert cart.status_code == 200
    assert IN_STOCK.name in cart.text
    assert f"€{IN_STOCK.price * 2:.2f}" in cart.text
    assert '<span class="badge" data-cart-count>2</span>' in cart.text

    review = client.get("/checkout", headers=cookie)
    assert review.status_code == 200 and "Place order" in review.text
    placed = client.post("/checkout", headers=cookie)
    assert placed.status_code == 200
    assert re.search(r"<strong data-order>DEMO-[0-9A-F]{8}</strong>", placed.text)
    assert placed.headers["set-cookie"].startswith('cart=""; expires=')

    removed = client.post("/cart/remove", data={"sku": IN_STOCK.sku}, headers=cookie)
    assert removed.status_code == 303
    assert "Max-Age=0" in removed.headers["set-cookie"]


def test_checkout_with_empty_cart_goes_to_cart(client: httpx.Client) -> None:
    for method in ("GET", "POST"):
        response = client.request(method, "/checkout")
        assert response.status_code == 303 and response.headers["location"] == "/cart"
    assert "Your cart is empty" in client.get("/cart").text


def test_tampered_cart_cookie_is_ignored(client: httpx.Client) -> None:
    response = client.get("/cart", headers={"Cookie": "cart=NOPE:3|<script>:1|RW-001:abc"})
    assert response.status_code == 200
    assert "Your cart is empty" in response.text


@pytest.mark.parametrize(
    ("data", "status"),
    [
        ({"sku": "XX-000"}, 404),
        ({}, 404),
        ({"sku": SOLD_OUT.sku}, 409),
        ({"sku": IN_STOCK.sku, "quantity": "0"}, 400),
        ({"sku": IN_STOCK.sku, "quantity": "100"}, 400),
        ({"sku": IN_STOCK.sku, "quantity": "-1"}, 400),
        ({"sku": IN_STOCK.sku, "quantity": "two"}, 400),
    ],
)
def test_cart_add_rejects_bad_input(
    client: httpx.Client, data: dict[str, str], status: int
) -> None:
    response = client.post("/cart/add", data=data)
    assert response.status_code == status
    assert "set-cookie" not in response.headers
    assert "Traceback" not in response.text
    assert "<h1>" in response.text  # an HTML error page in the shop's layout


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/product/XX-000", 404),
        ("GET", "/category/winter", 404),
        ("GET", "/nowhere", 404),
        ("GET", "/images/RW-001.png", 404),
        ("GET", "/images/XX-000.svg", 404),
        ("GET", "/cart/add", 405),
        ("DELETE", "/", 405),
    ],
)
def test_errors_are_pages(client: httpx.Client, method: str, path: str, status: int) -> None:
    response = client.request(method, path)
    assert response.status_code == status
    assert "Traceback" not in response.text


def test_images_and_stylesheet(client: httpx.Client) -> None:
    image = client.get(f"/images/{IN_STOCK.sku}.svg")
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/svg+xml"
    assert image.text.startswith("<svg")
    css = client.get("/static/shop.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]
    # No external fonts or assets: the shop calls nothing else.
    assert "http" not in css.text.replace("http://www.w3.org", "")


def test_head_has_no_body(client: httpx.Client) -> None:
    response = client.head("/")
    assert response.status_code == 200 and response.content == b""
