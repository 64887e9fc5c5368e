"""Banner templates and product grids as slot HTML: sandboxed, auto-escaped.

Banner templates come from rule files (Jinja2 syntax, `{{ city }}`) and run in Jinja2's
`ImmutableSandboxedEnvironment`: no access to underscore attributes or Python internals
(`{{ x.__class__ }}` is an error, not an object), no mutation of the values passed in, and
every value is HTML-escaped unless the template marks it otherwise. Templates compile once
at rule load; `template_fields` lists the attributes a template reads so the engine can gate
it like a condition (a banner showing `{{ geo.city }}` needs the purpose that covers it), and
`unguarded_fields` the ones it reads without a guard, which a visitor must have for it to render.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from babel.core import UnknownLocaleError
from babel.numbers import UnknownCurrencyError, format_currency
from jinja2 import StrictUndefined, TemplateError, nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import escape

from personalization_rules.recommender import Product

# A banner is a few hundred bytes; a runaway loop must not bloat the page.
MAX_OUTPUT_CHARS: Final = 64 * 1024

MAX_POWER_BITS: Final = 4096


def _small_power(base: Any, exponent: Any) -> bool:
    if not isinstance(exponent, int) or isinstance(exponent, bool):
        return isinstance(exponent, float) and abs(exponent) <= MAX_POWER_BITS
    if isinstance(base, int):
        return max(base.bit_length(), 1) * abs(exponent) <= MAX_POWER_BITS
    return abs(exponent) <= MAX_POWER_BITS  # floats overflow with an error, not a hang


class _BannerEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox, plus a bound on `**` (a huge power is a CPU-bound denial of service)."""

    intercepted_binops = frozenset({"**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and not _small_power(left, right):
            raise SecurityError("powers larger than 4096 bits are not allowed")
        return super().call_binop(context, operator, left, right)


_ENVIRONMENT: Final = _BannerEnvironment(
    # OWASP XSS Prevention Cheat Sheet, rule 1: HTML-encode every untrusted value.
    autoescape=True,
    # A misspelt variable is an error at render, reported by the engine as "no content".
    undefined=StrictUndefined,
    # An attribute without a value (no weather data) prints nothing, not "None".
    finalize=lambda value: "" if value is None else value,
)


class TemplateProblem(ValueError):
    """A template that does not compile; `line` is 1-based within the template text."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class BannerTemplate:
    """One compiled banner template."""

    __slots__ = ("source", "fields", "required", "_template")

    def __init__(self, source: str) -> None:
        """Compile `source`; raises `TemplateProblem` on a syntax error."""
        try:
            ast = _ENVIRONMENT.parse(source)
            self._template = _ENVIRONMENT.from_string(source)
        except TemplateError as exc:
            raise TemplateProblem(getattr(exc, "lineno", 1) or 1, str(exc)) from None
        self.source = source
        self.fields = template_fields(ast)
        self.required = unguarded_fields(ast) & self.fields

    def render(self, context: Mapping[str, Any]) -> str | None:
        """The HTML for `context`, or None when rendering fails (undefined or unsafe access)."""
        try:
            html = self._template.render(dict(context))
        except (TemplateError, SecurityError, TypeError, ValueError, ArithmeticError):
            return None
        return html if len(html) <= MAX_OUTPUT_CHARS else None


def template_fields(ast: nodes.Template) -> frozenset[str]:
    """Variables a template reads: `geo.city` for `{{ geo.city }}`, `geo` for `{{ geo }}`."""
    fields: set[str] = set()
    inside: set[int] = set()
    for attr in ast.find_all(nodes.Getattr):
        if isinstance(attr.node, nodes.Name):
            fields.add(f"{attr.node.name}.{attr.attr}")
            inside.add(id(attr.node))
    for item in ast.find_all(nodes.Getitem):
        if isinstance(item.node, nodes.Name) and isinstance(item.arg, nodes.Const):
            fields.add(f"{item.node.name}.{item.arg.value}")
            inside.add(id(item.node))
    assigned = {n.name for n in ast.find_all(nodes.Name) if n.ctx in ("store", "param")}
    for name in ast.find_all(nodes.Name):
        if name.ctx == "load" and id(name) not in inside and name.name not in assigned:
            fields.add(name.name)
    return frozenset(f for f in fields if f.split(".", 1)[0] not in assigned)


def unguarded_fields(ast: nodes.Template) -> frozenset[str]:
    """The fields of `template_fields` read without a guard, which fail to render (undefined
    under `StrictUndefined`) when the visitor lacks them. Deliberately simple: a field tested
    anywhere in an `{% if %}` or inline-if test, or read under a `default` filter, counts as
    guarded everywhere in the template."""
    read: list[nodes.Node] = []
    guards: list[nodes.Node] = []
    _sort_reads(ast, read, guards)
    return _fields_of(read) - _fields_of(guards)


def _fields_of(parts: list[nodes.Node]) -> frozenset[str]:
    return template_fields(nodes.Template([nodes.Output(list(parts))])) if parts else frozenset()


def _sort_reads(node: nodes.Node, read: list[nodes.Node], guards: list[nodes.Node]) -> None:
    """Splits the reads under `node` into unguarded ones and guards (tests, defaulted values)."""
    if isinstance(node, nodes.Filter) and node.name in ("default", "d"):
        if node.node is not None:
            guards.append(node.node)
        for arg in node.args:
            _sort_reads(arg, read, guards)
        return
    if isinstance(node, (nodes.Getattr, nodes.Getitem, nodes.Name)):
        read.append(node)
        return
    for name, child in node.iter_fields():
        for c in child if isinstance(child, list) else [child]:
            if not isinstance(c, nodes.Node):
                continue
            if isinstance(node, (nodes.If, nodes.CondExpr)) and name == "test":
                guards.append(c)
            else:
                _sort_reads(c, read, guards)


#: The default look of the gateway's product grid, scoped to its own `consentgate-` classes
#: and kept at one class's specificity so a shop's own rules win
#: (`personalization.default_styles: false` leaves it out).
PRODUCT_STYLES: Final = (
    "<style>"
    ".consentgate-recs{margin:1.5rem 0}"
    ".consentgate-recs-title{margin:0 0 .75rem;font-size:1.3rem}"
    ".consentgate-grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(13rem,1fr));"
    "gap:1rem;margin:0;padding:0;list-style:none}"
    ".consentgate-product{margin:0;padding:0}"
    ".consentgate-product-link{display:flex;flex-direction:column;gap:.3rem;height:100%;"
    "box-sizing:border-box;padding:.6rem;border:1px solid #d9dde1;border-radius:.5rem;"
    "background:#fff;color:inherit;text-decoration:none}"
    ".consentgate-product-link:hover .consentgate-name{text-decoration:underline}"
    ".consentgate-product-link:focus-visible{outline:3px solid #1a73e8;outline-offset:2px}"
    ".consentgate-product img{display:block;width:100%;height:auto;aspect-ratio:1;"
    "object-fit:cover;border-radius:.35rem;background:#eef1f3}"
    ".consentgate-name{font-weight:600}"
    ".consentgate-price{font-variant-numeric:tabular-nums;color:#333}"
    "</style>"
)


def render_products(
    products: Iterable[Product],
    title: str | None = None,
    *,
    language: str = "en",
    styles: bool = True,
) -> str:
    """A product grid as HTML, every catalog value escaped; prices in `language`'s CLDR
    format; `styles` adds `PRODUCT_STYLES`."""
    items = []
    for p in products:
        price = ""
        if p.price is not None:
            price = f'<span class="consentgate-price">{escape(format_price(p, language))}</span>'
        image = (
            f'<img src="{escape(p.image)}" alt="" loading="lazy" width="160" height="160">'
            if p.image
            else ""
        )
        items.append(
            f'<li class="consentgate-product" data-sku="{escape(p.sku)}">'
            f'<a class="consentgate-product-link" href="{escape(_safe_url(p.url))}">{image}'
            f'<span class="consentgate-name">{escape(p.name)}</span>{price}</a></li>'
        )
    heading = f'<h2 class="consentgate-recs-title">{escape(title)}</h2>' if title else ""
    return (
        f'<section class="consentgate-recs">{PRODUCT_STYLES if styles else ""}{heading}'
        f'<ul class="consentgate-grid">{"".join(items)}</ul></section>'
    )


def format_price(p: Product, language: str) -> str:
    """`p`'s price as a reader of `language` expects it, from CLDR via Babel (`€59.00` in en,
    `‏59.00 €` in ar); plain `59.00 EUR` when the currency or locale is unknown to CLDR
    (personalization fails open: a price is still shown)."""
    if p.price is None:
        return ""
    if p.currency:
        try:
            return str(format_currency(p.price, p.currency.strip().upper(), locale=language))
        except (UnknownLocaleError, UnknownCurrencyError, ValueError):
            pass
    return f"{p.price:.2f} {p.currency}".strip()


def _safe_url(url: str) -> str:
    # Escaping keeps the attribute closed, not `javascript:` out: allow relative and http(s).
    lowered = url.strip().lower()
    if lowered.startswith(("http://", "https://", "/")) and not lowered.startswith("//"):
        return url.strip()
    return "#"
