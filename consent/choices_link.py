"""The "Your Privacy Choices" link (Cal. Civ. Code §1798.135(a), 11 CCR §7015).

A business that sells or shares personal information offers the opt-out through a link on
every page; 11 CCR §7015(b) pairs the words "Your Privacy Choices" with the opt-out icon (a
blue and white toggle: a check mark on white, a cross on blue). The icon here is drawn in our
own SVG, sized like the regulation's sample (about the height of the text).

Pure rendering: the markup is scoped under `#consentgate-choices` (every class starts with
`consentgate-`, its `<style>` only selects inside it, `all: initial` keeps the shop's styles
out), so it neither restyles the page nor is restyled by it.
"""

from __future__ import annotations

from functools import lru_cache

from consent.language import direction
from consent.templates_env import template
from consent.texts import UI

_LINK = template("choices_link.html")

#: The root element's id (the banner's is `consentgate-banner`).
ROOT_ID = "consentgate-choices"


@lru_cache(maxsize=1024)
def render_choices_link(language: str, href: str) -> str:
    """The fixed link to `href` (the preference center), in `language` (en, ar, th).

    Cached: the same for every visitor on the same page in the same language (bounded: `href`
    holds a same-origin return path)."""
    return _LINK.render(
        lang=language, dir=direction(language), text=UI[language]["us_choices"], href=href
    )
