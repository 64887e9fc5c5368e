"""Prior blocking: nothing a purpose covers loads before that purpose is granted.

The contract's two forms, both decided on the server before the browser sees the page:
- Marked: `<script type="text/plain" data-consent="analytics" data-src=…>` (and any element
  below with `data-consent` and `data-src`/`data-srcset`/`data-href`) stays inert until every
  purpose it names is granted; then it is served active (`data-type` or no `type`, `data-X`
  moved back to `X`). A marked element that is live (a JS `type`, a real `src`) is neutralized.
- By host: a script, frame, image, media source or `<link>` whose URL's host is listed under a
  purpose in `policies.yaml` is neutralized the same way (`src` → `data-src`, scripts get
  `type="text/plain"`), with `data-consent` naming the purposes and `data-consentgate="blocked"`.

An element needs the union of the purposes it is marked with and those listing any host it
would load from; an unknown purpose id counts as not granted (fail closed).

Known limits: an inline script cannot be classified by host and is left alone unless marked;
`<noscript>` content is raw text to a browser with scripting on (the rewriter treats it so),
so a pixel inside it is not seen here; URLs in CSS, `<object data>`, `<input type=image>`,
`<a ping>` and scripts that load other scripts at run time are out of reach of markup rewriting.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from gateway.html.stage import Stage, StartTag
from gateway.stages.url_host import srcset_urls, url_host
from policies.purposes import HostIndex

#: Per element, the attributes holding URLs it fetches (kept minimal: each name here makes the
#: scanner build a tag view for every such tag on every page).
URL_ATTRIBUTES: Mapping[str, tuple[str, ...]] = {
    "script": ("src",),
    "iframe": ("src",),
    "frame": ("src",),
    "embed": ("src",),
    "img": ("src", "srcset"),
    "source": ("src", "srcset"),
    "video": ("src", "poster"),
    "audio": ("src",),
    # preload, prefetch, preconnect, dns-prefetch, modulepreload and stylesheets all reach
    # the host; a `<link>` pointing at a tracker host is neutralized whatever its `rel`.
    "link": ("href", "imagesrcset"),
}
_SRCSET = frozenset({"srcset", "imagesrcset"})

# MIME Sniffing §4.6: JavaScript MIME type essences; HTML §4.12.1.1: plus "module". Parameters
# are ignored (a browser would not run `text/javascript;x=y`; treating it as live fails closed).
_JS_TYPES = frozenset(
    """application/ecmascript application/javascript application/x-ecmascript
    application/x-javascript text/ecmascript text/javascript text/javascript1.0
    text/javascript1.1 text/javascript1.2 text/javascript1.3 text/javascript1.4
    text/javascript1.5 text/jscript text/livescript text/x-ecmascript text/x-javascript
    module""".split()
)
_INERT_TYPE = "text/plain"
_PURPOSE_LIST = re.compile(r"[\s,]+")


@dataclass(frozen=True)
class Blocked:
    """One element served without loading what it points at (for `rules explain` and tests)."""

    tag: str
    url: str | None  # the first URL it would have loaded; None for an inline script
    purposes: tuple[str, ...]  # what it needs
    missing: tuple[str, ...]  # what of that is not granted
    how: Literal["neutralized", "kept-inert"]


class PriorBlocking(Stage):
    """Keeps marked and tracker-host elements inert unless all their purposes are granted."""

    name = "prior-blocking"
    tags = frozenset(URL_ATTRIBUTES) | {"base"}
    # A tag whose URLs are all same-origin relative and that carries no marker loads nothing
    # a purpose covers (no host is listed for the page's own origin here): the scanner skips
    # it. A `<base href>` on another host ends that (`_base`).
    attributes = frozenset({"data-consent"})
    relative_tags = frozenset(URL_ATTRIBUTES)
    url_attributes = frozenset(
        name for names in URL_ATTRIBUTES.values() for a in names for name in (a, "data-" + a)
    )

    def __init__(self, granted: Mapping[str, bool], hosts: HostIndex) -> None:
        """`granted`: purpose id → on (the visitor's state); `hosts`: the config's host index."""
        self._granted = {pid for pid, on in granted.items() if on is True}
        self._hosts = hosts
        self._base_host: str | None = None
        self._base_seen = False
        #: What this page had blocked, in document order.
        self.blocked: list[Blocked] = []
        #: Marked elements served active because their purposes are granted.
        self.activated: list[str] = []

    @property
    def blocked_count(self) -> int:
        """How many elements were neutralized or kept inert on this page."""
        return len(self.blocked)

    def start_tag(self, tag: StartTag) -> None:
        """Activate, neutralize or leave one element."""
        if tag.name == "base":
            self._base(tag)
            return
        url_attrs = URL_ATTRIBUTES.get(tag.name)
        if url_attrs is None:
            return  # `data-consent` on an element that loads nothing
        marker = tag.get("data-consent")
        marked = purpose_ids(marker) if marker is not None else None
        # Purposes per attribute, for live (`src`) and parked (`data-src`) URLs alike.
        live = {a: self._purposes_of(a, v) for a in url_attrs if (v := tag.get(a)) is not None}
        parked = {
            a: self._purposes_of(a, v) for a in url_attrs if (v := tag.get("data-" + a)) is not None
        }
        needed = _union(marked or (), *live.values(), *parked.values())
        if marked is None and not needed:
            return  # the common case: nothing to decide
        missing = tuple(p for p in needed if p not in self._granted)
        # An empty `data-consent=""` names no purpose anyone granted: fail closed.
        if marked is not None and not marked:
            missing = missing or ("",)
        script_live = tag.name == "script" and _runs(tag)
        if not missing:
            if marked is not None:
                self._activate(tag, url_attrs)
            return
        moved: list[str] = []
        for attr, purposes in live.items():
            # A marked element's own URL is gated unless it already parks the real one in
            # `data-X` (then `X` is the author's placeholder, judged by its host alone).
            gated = marked is not None and (tag.name != "script" or script_live)
            gated = gated and attr not in parked
            if gated or any(p not in self._granted for p in purposes):
                moved.append(tag.get(attr) or "")
                _park(tag, attr)
        if script_live:
            _make_inert(tag)
        changed = bool(moved) or script_live
        if changed:
            if marked is None:
                tag.set_attribute("data-consent", " ".join(needed))
            tag.set_attribute("data-consentgate", "blocked")
        if changed or marked is not None:
            url = moved[0] if moved else _first_url(tag, url_attrs)
            how: Literal["neutralized", "kept-inert"] = "neutralized" if changed else "kept-inert"
            self.blocked.append(Blocked(tag.name, url, needed, missing, how))

    def _base(self, tag: StartTag) -> None:
        # HTML §4.2.3: only the first `<base>` with an href sets the document base URL; later
        # relative URLs resolve against its host.
        href = tag.get("href")
        if href is None or self._base_seen:
            return
        self._base_seen = True
        self._base_host = url_host(href, None)
        if self._base_host is not None:
            self.relative_tags = frozenset()  # relative URLs now load from that host

    def _purposes_of(self, attr: str, value: str) -> tuple[str, ...]:
        urls: Iterable[str] = srcset_urls(value) if attr in _SRCSET else (value,)
        found: list[str] = []
        for url in urls:
            if not url.strip():
                continue  # an empty src fetches nothing (HTML §4.8.4.3.4: no request)
            host = url_host(url, self._base_host)
            if host is not None:
                found.extend(self._hosts.purposes_for(host))
        return tuple(dict.fromkeys(found))

    def _activate(self, tag: StartTag, url_attrs: tuple[str, ...]) -> None:
        changed = False
        if tag.name == "script":
            script_type = tag.get("type")
            if script_type is not None and script_type.strip().lower() == _INERT_TYPE:
                original = tag.get("data-type")
                if original:
                    tag.set_attribute("type", original)
                else:
                    tag.remove_attribute("type")  # HTML §4.12.1: no type means JavaScript
                tag.remove_attribute("data-type")
                changed = True
            elif not _runs(tag):
                return  # a template or JSON block that merely carries the marker
        for attr in url_attrs:
            value = tag.get("data-" + attr)
            if value is not None:
                tag.remove_attribute("data-" + attr)
                tag.set_attribute(attr, value)
                changed = True
        if changed:
            self.activated.append(_first_url(tag, url_attrs) or tag.name)


def purpose_ids(marker: str) -> tuple[str, ...]:
    """`data-consent` lists purposes separated by spaces or commas; all are needed."""
    return tuple(dict.fromkeys(p for p in _PURPOSE_LIST.split(marker.strip()) if p))


def _union(*groups: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p for group in groups for p in group))


def _runs(tag: StartTag) -> bool:
    """Whether a browser would run this script (HTML §4.12.1.1 "prepare the script element")."""
    script_type = tag.get("type")
    if script_type is None:
        language = tag.get("language")
        script_type = f"text/{language}" if language else ""
    essence = script_type.split(";", 1)[0].strip(" \t\n\f\r").lower()
    return essence == "" or essence in _JS_TYPES


def _park(tag: StartTag, attr: str) -> None:
    """Move `attr` to `data-attr` (keeping an existing `data-attr`, the element's real URL)."""
    value = tag.get(attr) or ""
    tag.remove_attribute(attr)
    if not tag.has("data-" + attr):
        tag.set_attribute("data-" + attr, value)


def _make_inert(tag: StartTag) -> None:
    """Give a live script a type no browser runs, remembering the one it had."""
    original = tag.get("type")
    if original is not None and original.strip():
        tag.set_attribute("data-type", original)
    else:
        tag.remove_attribute("data-type")  # activation then drops `type`: JavaScript
    tag.set_attribute("type", _INERT_TYPE)


def _first_url(tag: StartTag, url_attrs: tuple[str, ...]) -> str | None:
    for attr in url_attrs:
        for name in (attr, "data-" + attr):
            value = tag.get(name)
            if value:
                return value
    return None
