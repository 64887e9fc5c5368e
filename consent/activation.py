"""The browser side of consent: activating what prior blocking kept inert, without a reload.

One small script (`templates/activation.js`) serves the banner and the embed placeholders: after
a choice it recreates the inert `<script type="text/plain" data-consent=…>` elements and moves
`data-src` back to `src` on frames, images and the like, for exactly the purposes the server's
answer grants (the server stays the authority; the script grants nothing by itself). It defines
`window.consentgate` once, so a page carrying it twice runs it once.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files

from markupsafe import escape


@lru_cache(maxsize=1)
def activation_js() -> str:
    """The script's source, with comment lines and indentation dropped (it goes into pages)."""
    source = files("consent").joinpath("templates/activation.js").read_text(encoding="utf-8")
    lines = (line.strip() for line in source.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("//"))


def activation_script(consent_url: str, reload_on_grant: bool = False) -> str:
    """The `<script>` element; `consent_url` is where it posts choices (`{prefix}/consent`).

    `reload_on_grant`: the page carries an enforced CSP fixed for the state it was served in
    (`gateway.csp`), which would refuse what a new grant activates: the script reloads the page
    instead, so the next policy allows it. The attribute leaves the script's text (and so its
    CSP hash) unchanged.
    """
    url = escape(consent_url)
    reload = " data-consentgate-reload" if reload_on_grant else ""
    return f'<script data-consentgate-url="{url}"{reload}>{activation_js()}</script>'
