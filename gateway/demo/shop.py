"""The bundled demo storefront: a small ASGI shop (Starlette + Jinja2) for the gateway to front.

Run alone: `python -m granian --interface asgi gateway.demo.shop:app --port 8081`.
Pages: home, category, product, cart (cookie `cart`, plain form POSTs), checkout and its
confirmation. Home and product pages carry the contract's slots (`data-slot="hero-banner"`,
`data-slot="recommendations"`) with the shop's own default content, and the tracker tags real
shops carry, marked (`type="text/plain" data-consent=...`) and unmarked, for the gateway to
neutralize. The shop calls nothing else; the trackers' hosts are unreachable offline and
their tags load `async`/lazily so a failed fetch never holds the page.
"""

from __future__ import annotations

import secrets
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.demo.cart import (
    COOKIE_NAME,
    add_item,
    format_cart,
    item_count,
    parse_cart,
    remove_item,
)
from gateway.demo.product_image import product_svg
from gateway.demo.products import Catalog, Product, load_catalog

HERE = Path(__file__).parent
CURRENCY_SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$"}
# Google Analytics' first-party cookie lifetime (two years); harmless here, but it is exactly
# the kind of cookie the gateway must drop until analytics is granted.
GA_COOKIE_MAX_AGE = 2 * 365 * 24 * 3600
CART_MAX_AGE = 30 * 24 * 3600
RECOMMENDATIONS = 4
FEATURED = 8


def money(amount: Decimal, currency: str = "EUR") -> str:
    """`amount` as the shop prints prices, e.g. ``€89.00``."""
    return f"{CURRENCY_SYMBOLS.get(currency, currency + ' ')}{amount:.2f}"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        # Every value in a page is escaped unless a template says otherwise.
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["money"] = money
    return env


class Shop:
    """Route handlers over one catalog and one template environment."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.env = _environment()
        self._skus = {p.sku for p in catalog.products}

    # --- helpers --------------------------------------------------------------------------

    def cart_of(self, request: Request) -> dict[str, int]:
        """The visitor's cart from its cookie (invalid parts dropped)."""
        return parse_cart(request.cookies.get(COOKIE_NAME), self._skus)

    def page(self, request: Request, template: str, status: int = 200, **context: Any) -> Response:
        """Render `template` with the shop's common context."""
        common = {
            "categories": self.catalog.categories,
            "cart_count": item_count(self.cart_of(request)),
            "path": request.url.path,
        }
        html = self.env.get_template(template).render({**common, **context})
        return HTMLResponse(html, status_code=status)

    def _product_or_404(self, sku: str) -> Product:
        product = self.catalog.product(sku)
        if product is None:
            raise HTTPException(404, f"No product {sku!r}.")
        return product

    def _cart_lines(self, cart: dict[str, int]) -> tuple[list[dict[str, Any]], Decimal]:
        lines = []
        total = Decimal("0.00")
        for sku, qty in cart.items():
            product = self._product_or_404(sku)
            subtotal = product.price * qty
            total += subtotal
            lines.append({"product": product, "quantity": qty, "subtotal": subtotal})
        return lines, total

    # --- pages ----------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        """Hero, category shelves, bestsellers and the recommendations slot."""
        response = self.page(
            request,
            "home.html",
            featured=self.catalog.bestsellers(FEATURED),
            # The shop's own default picks: the next bestsellers after the featured ones.
            recommended=self.catalog.bestsellers(FEATURED + RECOMMENDATIONS)[FEATURED:],
        )
        if "_ga" not in request.cookies:
            client_id = f"{secrets.randbelow(10**9):09d}.{int(time.time())}"
            response.set_cookie(
                "_ga",
                f"GA1.1.{client_id}",
                max_age=GA_COOKIE_MAX_AGE,
                path="/",
                samesite="lax",
            )
        return response

    async def category(self, request: Request) -> Response:
        """One shelf."""
        category = self.catalog.category(request.path_params["category"])
        if category is None:
            raise HTTPException(404, "No such category.")
        return self.page(
            request,
            "category.html",
            category=category,
            products=self.catalog.in_category(category.id),
        )

    async def product(self, request: Request) -> Response:
        """A product page with both slots."""
        product = self._product_or_404(request.path_params["sku"])
        related = [
            p
            for p in self.catalog.in_category(product.category)
            if p.sku != product.sku and p.in_stock
        ][:RECOMMENDATIONS]
        return self.page(request, "product.html", product=product, recommended=related)

    async def image(self, request: Request) -> Response:
        """The product's SVG picture."""
        name: str = request.path_params["name"]
        product = self._product_or_404(name.removesuffix(".svg")) if name.endswith(".svg") else None
        if product is None:
            raise HTTPException(404, "No such image.")
        return Response(
            product_svg(product),
            media_type="image/svg+xml",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    async def privacy(self, request: Request) -> Response:
        """The shop's privacy policy (linked by `policy.privacy_policy_url`)."""
        return self.page(request, "privacy.html")

    async def cart(self, request: Request) -> Response:
        """The cart with its lines and total."""
        lines, total = self._cart_lines(self.cart_of(request))
        return self.page(request, "cart.html", lines=lines, total=total)

    async def cart_add(self, request: Request) -> Response:
        """Form POST sku, quantity: add to the cart cookie, then back to the cart (303)."""
        form = await request.form()
        sku = str(form.get("sku", ""))
        quantity_text = str(form.get("quantity", "1"))
        valid = quantity_text.isascii() and quantity_text.isdigit()
        if not valid or not 1 <= int(quantity_text) <= 99:
            raise HTTPException(400, "Quantity must be a whole number from 1 to 99.")
        product = self._product_or_404(sku)
        if not product.in_stock:
            raise HTTPException(409, f"{product.name} is sold out.")
        cart = add_item(self.cart_of(request), sku, int(quantity_text), product.stock)
        return self._to_cart(cart)

    async def cart_remove(self, request: Request) -> Response:
        """Form POST sku: remove it from the cart cookie, then back to the cart (303)."""
        form = await request.form()
        cart = remove_item(self.cart_of(request), str(form.get("sku", "")))
        return self._to_cart(cart)

    def _to_cart(self, cart: dict[str, int]) -> Response:
        # RFC 9110 §15.4.4: 303 turns the POST into a GET of the cart (no resubmission).
        response = RedirectResponse("/cart", status_code=303)
        if cart:
            # Not Secure: the demo serves plain HTTP on loopback; HttpOnly, SameSite=Lax.
            response.set_cookie(
                COOKIE_NAME,
                format_cart(cart),
                max_age=CART_MAX_AGE,
                path="/",
                httponly=True,
                samesite="lax",
            )
        else:
            response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="lax")
        return response

    async def checkout(self, request: Request) -> Response:
        """GET: review the order; POST: place it and show the confirmation."""
        cart = self.cart_of(request)
        if not cart:
            return RedirectResponse("/cart", status_code=303)
        lines, total = self._cart_lines(cart)
        if request.method == "GET":
            return self.page(request, "checkout.html", lines=lines, total=total)
        order = f"DEMO-{secrets.token_hex(4).upper()}"
        response = self.page(
            request, "confirmation.html", lines=lines, total=total, order=order, cart_count=0
        )
        response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="lax")
        return response

    async def error(self, request: Request, exc: Exception) -> Response:
        """Any HTTP error as a small page; never a traceback."""
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "Something went wrong."
        return self.page(request, "error.html", status=status, status_code=status, detail=detail)


def create_app(catalog: Catalog | None = None) -> Starlette:
    """The shop as an ASGI app over `catalog` (default: the bundled `catalog.json`)."""
    shop = Shop(catalog or load_catalog())
    routes = [
        Route("/", shop.home),
        Route("/category/{category}", shop.category),
        Route("/product/{sku}", shop.product),
        Route("/images/{name}", shop.image),
        Route("/cart", shop.cart),
        Route("/cart/add", shop.cart_add, methods=["POST"]),
        Route("/cart/remove", shop.cart_remove, methods=["POST"]),
        Route("/checkout", shop.checkout, methods=["GET", "POST"]),
        Route("/privacy", shop.privacy),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={HTTPException: shop.error, Exception: shop.error},
    )


app = create_app()
