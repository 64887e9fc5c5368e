"""Prior blocking: nothing a purpose covers loads before that purpose is granted.

The contract's two forms, both decided on the server before the browser sees the page:
- Marked: `<script type="text/plain" data-consent="analytics" data-src=…>` (and any element
  below with `data-consent` and `data-src`/`data-srcset`/`data-href`…) stays inert until every
  purpose it names is granted; then it is served active (`data-type` or no `type`, `data-X`
  moved back to `X`). A marked element that is live (a JS `type`, a real `src`) is neutralized.
- By host: every attribute of `URL_ATTRIBUTES` whose URL's host is listed under a purpose in
  `policies.yaml` is neutralized the same way (`src` → `data-src`, scripts get
  `type="text/plain"`), with `data-consent` naming the purposes and `data-consentgate="blocked"`.
  Besides: an `<iframe srcdoc>` document (HTML in an attribute value) and a `data:` URL page
  in a frame, embed or object are rewritten by this same stage; CSS `url()`, `image-set()`
  and `@import` in `style` attributes (the original kept in `data-consentgate-style`) and in
  `<style>` elements become `about:invalid`; a `<meta http-equiv=refresh>` to a tracker host
  loses its `content`.

An element needs the union of the purposes it is marked with and those listing any host it
would load from; an unknown purpose id counts as not granted (fail closed).

Not blocked: `<a href>`, `<form action>`, `<button formaction>`, `<input formaction>`. They
load nothing by themselves: the visitor's own click navigates the whole page there, as any
outbound link does (a tracker's landing page can only set its own first-party state).

The browser script (`consent/templates/activation.js`) restores what is parked in `data-X`
and `data-consentgate-style` once the purposes are granted; a `<style>` element, a refresh and
the inside of a `srcdoc` or `data:` frame are served active from the next page on.

Known limits: an inline script cannot be classified by host and is left alone unless marked;
CSS in stylesheet files, `url()` in SVG presentation
attributes and `<style>` inside `<svg>`, `javascript:` URLs, and scripts that load other
scripts at run time are out of reach of markup rewriting.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote_to_bytes

from gateway.html.rewriter import HtmlRewriter
from gateway.html.stage import Stage, StartTag
from gateway.stages.css_urls import css_urls, neutralize_css
from gateway.stages.url_host import refresh_url, space_separated_urls, srcset_urls, url_host
from policies.purposes import HostIndex

_SVG_HREF = ("href", "xlink:href")

#: Per element, the attributes holding URLs it fetches (kept minimal: each name here makes the
#: scanner build a tag view for every such tag that holds a URL not relative to the page).
URL_ATTRIBUTES: Mapping[str, tuple[str, ...]] = {
    # SVG 2 §15.2: an SVG `script` fetches `href` (`xlink:href` before SVG 2).
    "script": ("src", *_SVG_HREF),
    # HTML §4.8.5: srcdoc is a document (rewritten in place, see `_srcdoc`).
    "iframe": ("src", "srcdoc"),
    "frame": ("src",),
    "embed": ("src",),
    "object": ("data", "codebase"),
    # Obsolete (HTML §16.3.5, HTMLUnknownElement today); kept inert if a plugin ever reads it.
    "applet": ("code", "codebase", "archive", "object", "src"),
    "img": ("src", "srcset"),
    # HTML §13.2.6.4.7: the parser turns `<image>` into `<img>`; in SVG it is an image `href`.
    "image": ("src", "srcset", *_SVG_HREF),
    "feimage": _SVG_HREF,
    "use": _SVG_HREF,
    # HTML §4.10.5.1.19: `<input type=image src>` (any type: fail closed).
    "input": ("src",),
    "source": ("src", "srcset"),
    "track": ("src",),
    "video": ("src", "poster"),
    "audio": ("src",),
    # preload, prefetch, preconnect, dns-prefetch, modulepreload, prerender, icons, manifests
    # and stylesheets all reach the host; a `<link>` pointing at a tracker host is neutralized
    # whatever its `rel`.
    "link": ("href", "imagesrcset"),
    # HTML §16.3.4 (obsolete but rendered): a background image attribute.
    "body": ("background",),
    "table": ("background",),
    "td": ("background",),
    "th": ("background",),
}
#: Seen by attribute rather than by tag name (`a` and `meta` are too common to stop at): the
#: hyperlink auditing `ping` of `a`/`area` (HTML §4.6.5) and a refresh (HTML §4.2.5.3).
ATTRIBUTE_URLS: Mapping[str, tuple[str, ...]] = {
    "a": ("ping",),
    "area": ("ping",),
    "meta": ("content",),
}
_SRCSET = frozenset({"srcset", "imagesrcset"})
_LISTS = frozenset({"ping", "archive"})
#: Attributes whose value is not a URL: read another way (or not by host at all).
_NOT_URLS = frozenset({"srcdoc"})
#: Where a neutralized `style` attribute keeps the original for the browser script.
PARKED_STYLE = "data-consentgate-style"
#: How deep `srcdoc` documents are rewritten; a frame nested deeper is neutralized whole.
MAX_SRCDOC_DEPTH = 3
#: The attribute whose URL an element shows as a document of its own.
_DOCUMENT_URLS = {"iframe": "src", "frame": "src", "embed": "src", "object": "data"}
#: Fetch §4.2: the MIME types a browser renders as a page with subresources of its own.
_DOCUMENT_TYPES = frozenset(
    {"text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml"}
)

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
_ARCHIVE_LIST = re.compile(r"[\s,]+")
# URL Standard §4.4: C0 controls and spaces trimmed, tabs and newlines removed anywhere.
_C0_OR_SPACE = "".join(chr(c) for c in range(0x21))
_TAB_OR_NEWLINE = str.maketrans("", "", "\t\n\r")


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
    # it. A `<base href>` on another host ends that (`_base`). `ping`, `http-equiv` and
    # `style` bring any tag that carries them.
    attributes = frozenset({"data-consent", "ping", "http-equiv", "style"})
    relative_tags = frozenset(URL_ATTRIBUTES)
    url_attributes = frozenset(
        name for names in URL_ATTRIBUTES.values() for a in names for name in (a, "data-" + a)
    )
    # CSS Cascade 5 §6.6 / CSS Syntax §8: a `<style>` element's text is a style sheet.
    raw_text_of = frozenset({"style"})

    def __init__(
        self,
        granted: Mapping[str, bool],
        hosts: HostIndex,
        *,
        base_host: str | None = None,
        depth: int = 0,
    ) -> None:
        """`granted`: purpose id → on (the visitor's state); `hosts`: the config's host index;
        `base_host` and `depth`: those of the document a `srcdoc` is nested in."""
        self._granted = {pid for pid, on in granted.items() if on is True}
        self._granted_map = granted
        self._hosts = hosts
        self._base_host = base_host
        self._base_seen = False
        self._depth = depth
        if base_host is not None:
            self.relative_tags = frozenset()
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
        url_attrs = self._url_attributes(tag)
        style = tag.get("style")
        styled = self._css_purposes(style) if style else {}
        if not url_attrs and not styled:
            return  # `data-consent` on an element that loads nothing
        marker = tag.get("data-consent") if url_attrs else None
        marked = purpose_ids(marker) if marker is not None else None
        # Purposes per attribute, for live (`src`) and parked (`data-src`) URLs alike.
        live = {a: self._purposes_of(a, v) for a in url_attrs if (v := tag.get(a)) is not None}
        parked = {
            a: self._purposes_of(a, v) for a in url_attrs if (v := tag.get("data-" + a)) is not None
        }
        needed = _union(marked or (), *live.values(), *parked.values(), *styled.values())
        if marked is None and not needed:
            self._documents(tag)
            return  # the common case: nothing to decide
        missing = tuple(p for p in needed if p not in self._granted)
        # An empty `data-consent=""` names no purpose anyone granted: fail closed.
        if marked is not None and not marked:
            missing = missing or ("",)
        script_live = tag.name == "script" and _runs(tag)
        if not missing:
            if marked is not None:
                self._activate(tag, url_attrs)
            self._documents(tag)
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
        if style and any(p not in self._granted for ps in styled.values() for p in ps):
            moved.append(next(u for u, ps in styled.items() if ps))
            self._neutralize_style(tag, style)
        if script_live:
            _make_inert(tag)
        changed = bool(moved) or script_live
        if changed:
            if marked is None:
                # An element that loads only through its style may carry the author's marker:
                # activation then needs both.
                author = purpose_ids(tag.get("data-consent") or "")
                tag.set_attribute("data-consent", " ".join(_union(author, needed)))
            tag.set_attribute("data-consentgate", "blocked")
        if changed or marked is not None:
            url = moved[0] if moved else _first_url(tag, url_attrs)
            how: Literal["neutralized", "kept-inert"] = "neutralized" if changed else "kept-inert"
            self.blocked.append(Blocked(tag.name, url, needed, missing, how))
        self._documents(tag)

    def raw_text(self, name: str, text: str) -> str | None:
        """A `<style>` element: its blocked URLs become `about:invalid`."""
        if "(" not in text and "@" not in text:
            return None
        found = [u for u in css_urls(text) if self._missing(u.url)]
        if not found:
            return None
        needed = _union(*(self._purposes_of("", u.url) for u in found))
        missing = tuple(p for p in needed if p not in self._granted)
        self.blocked.append(Blocked("style", found[0].url, needed, missing, "neutralized"))
        return neutralize_css(text, self._missing)

    def _url_attributes(self, tag: StartTag) -> tuple[str, ...]:
        names = URL_ATTRIBUTES.get(tag.name)
        if names is not None:
            return names
        if tag.name == "meta":
            # HTML §4.2.5.3: only the refresh pragma navigates.
            pragma = tag.get("http-equiv")
            if pragma is None or pragma.strip(" \t\n\f\r").lower() != "refresh":
                return ()
        return ATTRIBUTE_URLS.get(tag.name, ())

    def _missing(self, url: str) -> bool:
        return any(p not in self._granted for p in self._purposes_of("", url))

    def _css_purposes(self, css: str) -> dict[str, tuple[str, ...]]:
        """URL → purposes, for the URLs in a `style` attribute that a purpose lists."""
        if "(" not in css:
            return {}  # CSS Values 4 §4.5: every URL in a declaration is a function
        found = {u.url: self._purposes_of("", u.url) for u in css_urls(css)}
        return {url: ps for url, ps in found.items() if ps}

    def _neutralize_style(self, tag: StartTag, style: str) -> None:
        neutral = neutralize_css(style, self._missing)
        if neutral is None:
            return
        if not tag.has(PARKED_STYLE):
            tag.set_attribute(PARKED_STYLE, style)
        tag.set_attribute("style", neutral)

    def _documents(self, tag: StartTag) -> None:
        """Documents carried inside the tag go through this same stage: a frame's `srcdoc`
        (HTML §4.8.5) and a `data:` URL a frame, embed or object shows as a page (Fetch
        §4.2, "data: URL processor")."""
        if tag.name == "iframe":
            srcdoc = tag.get("srcdoc")
            if srcdoc is not None and "<" in srcdoc:
                # HTML §4.2.3: relative URLs in it resolve against this page's base URL.
                rewritten = self._nested(tag, srcdoc, self._base_host)
                if rewritten is not None:
                    tag.set_attribute("srcdoc", rewritten)
        attr = _DOCUMENT_URLS.get(tag.name)
        value = tag.get(attr) if attr is not None else None
        if attr is None or value is None or "data:" not in value[:64].lower():
            return
        document = _data_document(value)
        if document is None:
            return
        essence, text = document
        rewritten = self._nested(tag, text, None)  # a data: URL is no base URL
        if rewritten is not None:
            encoded = base64.b64encode(rewritten.encode("utf-8")).decode("ascii")
            tag.set_attribute(attr, f"data:{essence};charset=utf-8;base64,{encoded}")

    def _nested(self, tag: StartTag, document: str, base_host: str | None) -> str | None:
        """`document` rewritten by a nested stage; None when it blocked nothing."""
        if self._depth >= MAX_SRCDOC_DEPTH:
            self._neutralize_frame(tag, "nested too deep")
            return None
        nested = PriorBlocking(
            self._granted_map, self._hosts, base_host=base_host, depth=self._depth + 1
        )
        try:
            rewriter = HtmlRewriter([nested], charset="utf-8")
            out = rewriter.feed(document.encode("utf-8", "surrogatepass")) + rewriter.close()
            rewritten = out.decode("utf-8")
        except (ValueError, RuntimeError):
            self._neutralize_frame(tag, "unreadable")
            return None
        if not nested.blocked:
            return None
        self.blocked.extend(nested.blocked)
        return rewritten

    def _neutralize_frame(self, tag: StartTag, why: str) -> None:
        # No purpose can be named for what was not read: the empty marker is never granted.
        for attr in ("srcdoc", _DOCUMENT_URLS.get(tag.name, "src")):
            if tag.has(attr):
                _park(tag, attr)
        tag.set_attribute("data-consent", "")
        tag.set_attribute("data-consentgate", "blocked")
        self.blocked.append(Blocked(tag.name, why, (), ("",), "neutralized"))

    def _base(self, tag: StartTag) -> None:
        # HTML §4.2.3: only the first `<base>` with an href sets the document base URL; later
        # relative URLs resolve against its host.
        href = tag.get("href")
        if href is None or self._base_seen:
            return
        self._base_seen = True
        base_host = url_host(href, self._base_host)
        if base_host is not None:
            self._base_host = base_host
            self.relative_tags = frozenset()  # relative URLs now load from that host

    def _purposes_of(self, attr: str, value: str) -> tuple[str, ...]:
        if attr in _NOT_URLS:
            return ()
        urls: Iterable[str]
        if attr in _SRCSET:
            urls = srcset_urls(value)
        elif attr in _LISTS:
            urls = space_separated_urls(value) if attr == "ping" else _ARCHIVE_LIST.split(value)
        elif attr == "content":
            refresh = refresh_url(value)
            urls = () if refresh is None else (refresh,)
        else:
            urls = (value,)
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


def _data_document(url: str) -> tuple[str, str] | None:
    """`(MIME type essence, text)` of a `data:` URL holding a document (Fetch §4.2, "data: URL
    processor": percent-decoded, then base64-decoded when the type ends in `;base64`)."""
    url = url.strip(_C0_OR_SPACE).translate(_TAB_OR_NEWLINE)
    if not url[:5].lower() == "data:" or "," not in url:
        return None
    media_type, body = url[5:].split(",", 1)
    raw = unquote_to_bytes(body)
    head, _, last = media_type.rpartition(";")
    if last.strip(" ").lower() == "base64":
        media_type = head
        try:
            raw = base64.b64decode(re.sub(rb"[\t\n\f\r ]", b"", raw) + b"==", validate=False)
        except ValueError:
            return None  # the browser fails to decode it too: a network error
    essence = media_type.split(";", 1)[0].strip(" \t\n\f\r").lower()
    if essence not in _DOCUMENT_TYPES:
        return None
    charset = re.search(r";\s*charset=\"?([^\";]+)", media_type, re.IGNORECASE)
    try:
        text = raw.decode(charset.group(1).strip() if charset else "utf-8", "replace")
    except LookupError:
        text = raw.decode("utf-8", "replace")
    return essence, text


def _first_url(tag: StartTag, url_attrs: tuple[str, ...]) -> str | None:
    for attr in url_attrs:
        for name in (attr, "data-" + attr):
            value = tag.get(name)
            if value:
                return value
    return None
