"""Banner templates and product lists as slot HTML: sandboxed, auto-escaped.

Banner templates come from rule files (Jinja2 syntax, `{{ city }}`) and run in Jinja2's
`ImmutableSandboxedEnvironment`: no access to underscore attributes or Python internals
(`{{ x.__class__ }}` is an error, not an object), no mutation of the values passed in, and
every value is HTML-escaped unless the template marks it otherwise. Templates compile once
at rule load; `template_fields` lists the attributes a template reads so the engine can gate
it like a condition (a banner showing `{{ geo.city }}` needs the purpose that covers it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

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

    __slots__ = ("source", "fields", "_template")

    def __init__(self, source: str) -> None:
        """Compile `source`; raises `TemplateProblem` on a syntax error."""
        try:
            ast = _ENVIRONMENT.parse(source)
            self._template = _ENVIRONMENT.from_string(source)
        except TemplateError as exc:
            raise TemplateProblem(getattr(exc, "lineno", 1) or 1, str(exc)) from None
        self.source = source
        self.fields = template_fields(ast)

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


def render_products(products: Iterable[Product], title: str | None = None) -> str:
    """A product list as HTML, every catalog value escaped."""
    items = []
    for p in products:
        price = f'<span class="cg-price">{escape(_price(p))}</span>' if p.price is not None else ""
        image = (
            f'<img src="{escape(p.image)}" alt="" loading="lazy" width="160" height="160">'
            if p.image
            else ""
        )
        items.append(
            f'<li class="cg-product" data-sku="{escape(p.sku)}">'
            f'<a href="{escape(_safe_url(p.url))}">{image}'
            f'<span class="cg-name">{escape(p.name)}</span>{price}</a></li>'
        )
    heading = f"<h2>{escape(title)}</h2>" if title else ""
    return (
        f'<section class="cg-recommendations">{heading}'
        f'<ul class="cg-products">{"".join(items)}</ul></section>'
    )


def _price(p: Product) -> str:
    return f"{p.price:.2f} {p.currency}".strip()


def _safe_url(url: str) -> str:
    # Escaping keeps the attribute closed, not `javascript:` out: allow relative and http(s).
    lowered = url.strip().lower()
    if lowered.startswith(("http://", "https://", "/")) and not lowered.startswith("//"):
        return url.strip()
    return "#"
