"""The data-subject bundle as a page people can read, and the erasure confirmation pages.

Pure rendering (Jinja2, autoescaped: every value in a bundle came from a visitor or a shop
and is escaped); the bundle page is `templates/my_data.html`. Every part is readable sections,
not raw JSON: the profile as nested definition lists, consents, decisions, events and audit
entries as tables that turn into one card per row on a phone. The HTML holds the same content
as the JSON (hashes shortened for reading, the full proofs are in the JSON download).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import Environment, PackageLoader
from markupsafe import Markup

# Field names a customer reads instead of the JSON keys (the JSON download keeps the keys).
_LABELS = {
    "visitor_type": "Visitor type",
    "engaged_categories": "Categories you engaged with",
    "engaged_skus": "Products you engaged with",
    "facts": "Facts recorded",
    "experiments": "Experiments (variant shown)",
    "frequency": "How often capped content was shown",
    "sku": "product",
    "order_value": "order value",
}

_ENV = Environment(
    loader=PackageLoader("gateway", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
# An event's fields besides its time and type (those have their own columns).
_ENV.filters["details"] = lambda e: {k: v for k, v in e.items() if k not in ("ts", "type")}
_ENV.filters["short"] = lambda v: (str(v)[:16] + "…") if v and len(str(v)) > 16 else v
_ENV.filters["label"] = lambda key: _LABELS.get(str(key), str(key).replace("_", " "))


# Mobile first: nothing may be wider than the screen (WCAG 2.2 §1.4.10 Reflow: no horizontal
# scrolling at 320 CSS px). Long values (hashes, SKUs) wrap anywhere; on a narrow screen each
# table row becomes a card whose cells carry their column name (`data-label`). The pages' one
# inline style: their CSP allows it by hash (`gateway.http.security`), so it goes into the page
# unescaped and byte for byte (escaped, `ol.cg-items>li` became `&gt;`, a broken selector).
STYLE = """
*,*::before,*::after{box-sizing:border-box}
body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:1.5rem auto;padding:0 1rem;
color:#1b1b1b;overflow-wrap:anywhere}
h1{font-size:1.6rem;margin:.5rem 0}h2{font-size:1.25rem;margin:2rem 0 .5rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}
caption{text-align:left;font-size:.9rem;color:#444;padding:.25rem 0}
th,td{border:1px solid #bbb;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f0f0f0}code{font-size:.85rem}
dl{margin:0;display:grid;grid-template-columns:minmax(6rem,max-content) minmax(0,1fr);
gap:.2rem .9rem}
dt{font-weight:600;color:#333}dd{margin:0;min-width:0}
dd dl{border-left:3px solid #ddd;padding-left:.6rem}
.cg-profile{border:1px solid #bbb;border-radius:.4rem;padding:.75rem 1rem}
ol.cg-items{margin:0;padding-left:1.2rem}ol.cg-items>li{margin-bottom:.4rem}
.cg-tags{display:flex;flex-wrap:wrap;gap:.3rem;margin:0;padding:0;list-style:none}
.cg-tags li{background:#eef2f7;border-radius:999px;padding:0 .55rem;font-size:.92rem}
a:focus,button:focus{outline:3px solid #1a5fb4;outline-offset:2px}
button{font:inherit;padding:.4rem 1rem}
@media (max-width:40rem){
table.cg-cards,table.cg-cards caption,table.cg-cards tbody,table.cg-cards tr,table.cg-cards td{
display:block;width:100%}
table.cg-cards thead{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
table.cg-cards tr{border:1px solid #bbb;border-radius:.4rem;margin-bottom:.75rem;padding:.25rem 0}
table.cg-cards td{border:0;display:grid;grid-template-columns:7.5rem minmax(0,1fr);gap:.5rem}
table.cg-cards td::before{content:attr(data-label);font-weight:600;color:#333}
dl{grid-template-columns:minmax(0,1fr)}dd{margin-bottom:.3rem}
}
"""

_STYLE_MARKUP = Markup(STYLE)
_BUNDLE = _ENV.get_template("my_data.html")

_CONFIRM = _ENV.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Erase your data</title><style>{{ style }}</style></head>
<body><main>
<h1>Erase your data</h1>
<p>This erases your consent history, your profile and everything personalization learned
about you, and forgets this browser. The audit log keeps a record that an erasure
happened, but nothing in it can be linked to you any more. This cannot be undone.</p>
<form method="post" action="{{ action }}">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="confirm" value="yes">
<button type="submit">Yes, erase my data</button>
<a href="{{ back }}">Cancel</a>
</form>
</main></body></html>
"""
)

_DONE = _ENV.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Your data was erased</title><style>{{ style }}</style></head>
<body><main>
<h1>Your data was erased</h1>
<p>Everything stored about reference <strong>{{ ref }}</strong> is gone, and this browser
is no longer recognised. <a href="/">Back to the shop</a></p>
</main></body></html>
"""
)


def render_bundle(bundle: Mapping[str, Any], *, json_url: str, delete_url: str | None) -> str:
    """The bundle as an HTML page (no erase link when `delete_url` is None: an officer's copy)."""
    return _BUNDLE.render(b=bundle, style=_STYLE_MARKUP, json_url=json_url, delete_url=delete_url)


def render_confirm(*, action: str, csrf: str, back: str) -> str:
    """The erasure confirmation form (posts ``confirm=yes`` with the CSRF token)."""
    return _CONFIRM.render(action=action, csrf=csrf, back=back, style=_STYLE_MARKUP)


def render_erased(subject_ref: str) -> str:
    """The page after a self-service erasure."""
    return _DONE.render(ref=subject_ref, style=_STYLE_MARKUP)
