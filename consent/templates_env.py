"""The Jinja environment that renders `consent/templates/`: autoescaped (strings too, so a
template rendered from text escapes like one from a file) and strict about undefined names."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined, Template, select_autoescape

ENV = Environment(
    loader=PackageLoader("consent", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def template(name: str) -> Template:
    """The template `name` in `consent/templates/`."""
    return ENV.get_template(name)
