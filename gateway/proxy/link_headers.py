"""`Link` response fields toward a blocked purpose's hosts are dropped.

A `Link: <https://www.googletagmanager.com/gtm.js>; rel=preload` makes the browser fetch (or
connect to) the host before a byte of the page is parsed, so prior blocking in the markup
comes too late for it. Each field is parsed as RFC 8288 §3 writes it: comma-separated
link-values `<URI-Reference> *( ";" link-param )`, a param value a token or a quoted-string
(which may hold commas and `\\`-escapes). A link whose target is on a host a purpose lists,
while that purpose is not granted, is removed, whatever its `rel` (preload, prefetch,
preconnect, dns-prefetch, modulepreload, prerender, stylesheet, compression-dictionary … all
reach the host; the others have no business pointing at a tracker). A link-value that does not
parse is removed too (fail closed: a browser's more lenient parser might still follow it).
A field left with no link is dropped; one where nothing was removed stays byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

_OWS = " \t"
# RFC 9110 §5.6.2 token, §5.6.4 quoted-string; RFC 8288 §3 link-param.
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_PARAMS = re.compile(
    r"(?:[ \t]*;[ \t]*(?:"
    + _TOKEN
    + r"[ \t]*(?:=[ \t]*(?:"
    + _TOKEN
    + "|"
    + _QUOTED
    + r"))?)?)*[ \t]*"
)
# The rest of a link-value: up to a comma outside quoted-strings.
_REST = re.compile(r'(?:[^,"]|' + _QUOTED + r'|"[^"]*$)*')


def filter_links(value: str, blocked: Callable[[str], bool]) -> str | None:
    """`value` (one `Link` field) without the links whose URI `blocked` refuses and those that
    do not parse; None when none is left."""
    kept: list[str] = []
    removed = False
    for raw, uri in link_values(value):
        if uri is None or blocked(uri):
            removed = True
        else:
            kept.append(raw)
    if not removed:
        return value
    return ", ".join(kept) if kept else None


def link_values(value: str) -> Iterator[tuple[str, str | None]]:
    """Each link-value of a field: its source text (trimmed) and its target URI, None when it
    does not parse (RFC 8288 §3)."""
    pos, n = 0, len(value)
    while pos < n:
        while pos < n and value[pos] in _OWS + ",":
            pos += 1  # RFC 9110 §5.6.1: empty list elements are ignored
        if pos >= n:
            return
        start = pos
        uri: str | None = None
        if value[pos] == "<":
            close = value.find(">", pos + 1)
            if close >= 0:
                uri = value[pos + 1 : close]
                pos = close + 1
        rest = _REST.match(value, pos)
        assert rest is not None  # may match empty
        if _PARAMS.fullmatch(value, pos, rest.end()) is None:
            uri = None
        pos = rest.end()
        yield value[start:pos].strip(_OWS), uri
