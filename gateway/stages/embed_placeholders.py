"""Embed placeholders: a blocked video or map says what it is and how to load it.

Prior blocking leaves a blocked `<iframe>` without a `src`, which a browser draws as an empty
box. Right after it in the pipeline this stage hides each such frame and puts a placeholder of
the same size before it, in the visitor's language, naming the provider and the purposes still
missing ("YouTube video — blocked until you allow Marketing"), with "Load once" (that frame
only, nothing recorded) and "Always allow" (records the grant, then activates everything it
allows) — contextual consent as Klaro! and Cookiebot offer it. The buttons need JavaScript
(`consent/templates/activation.js`, emitted with the first placeholder); without it they stay
hidden and the placeholder's link to the preference center is the way to choose.

A frame whose URL names no host (relative on the page's own origin, `data:`) gets no
placeholder: there is no provider to name. Other blocked media (`<video>`, `<embed>`) neither.

The frame itself is untouched but for `hidden` and a key tying it to its placeholder: it loads
nothing until the browser-side script moves `data-src` back, which it does only on a click or
for purposes the server's answer grants (consent fails closed).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from markupsafe import escape

from consent.activation import activation_script
from consent.language import direction
from consent.texts import EMBED, UI
from gateway.html.stage import Stage, StartTag
from gateway.stages.prior_blocking import purpose_ids
from gateway.stages.script_nonce import nonce_of, with_nonce
from gateway.stages.url_host import url_host

Kind = Literal["video", "map", "content"]

#: Hosts (and their subdomains) of common embeds → product name and what it shows.
PROVIDERS: tuple[tuple[str, str, Kind], ...] = (
    ("youtube.com", "YouTube", "video"),
    ("youtube-nocookie.com", "YouTube", "video"),
    ("youtu.be", "YouTube", "video"),
    ("vimeo.com", "Vimeo", "video"),
    ("dailymotion.com", "Dailymotion", "video"),
    ("twitch.tv", "Twitch", "video"),
    ("wistia.net", "Wistia", "video"),
    ("maps.googleapis.com", "Google Maps", "map"),
    ("openstreetmap.org", "OpenStreetMap", "map"),
    ("bing.com", "Bing Maps", "map"),
    ("spotify.com", "Spotify", "content"),
    ("soundcloud.com", "SoundCloud", "content"),
    ("twitter.com", "X", "content"),
    ("x.com", "X", "content"),
    ("instagram.com", "Instagram", "content"),
    ("facebook.com", "Facebook", "content"),
    ("tiktok.com", "TikTok", "content"),
)
# Google Maps lives on country domains: maps.google.de, or google.co.uk/maps/embed?….
_GOOGLE = re.compile(r"(?:www\.|maps\.)?google\.(?:[a-z]{2,3}|co\.[a-z]{2}|com\.[a-z]{2})")
_PATH = re.compile(r"^[a-z][a-z0-9+.\-]*:[/\\]*[^/\\?#]*|^[/\\]{2}[^/\\?#]*", re.IGNORECASE)
# A width/height attribute as HTML reads it for a frame (a number of CSS pixels).
_PIXELS = re.compile(r"\s*(\d{1,5})(?:\.\d*)?(?:px)?\s*")

STYLE = (
    "<style>"
    ".consentgate-embed{box-sizing:border-box;display:flex;flex-direction:column;"
    "align-items:center;justify-content:center;gap:.6rem;max-width:100%;min-height:9rem;"
    "padding:1rem 1.25rem;border-radius:.5rem;background:#1f2933;color:#fff;text-align:center;"
    'font:15px/1.45 system-ui,-apple-system,"Segoe UI","Noto Sans","Noto Sans Arabic",'
    '"Noto Sans Thai",sans-serif}'
    ".consentgate-embed p{margin:0;max-width:40ch}"
    ".consentgate-embed-title{font-weight:600}"
    ".consentgate-embed-actions{display:flex;flex-wrap:wrap;gap:.6rem;justify-content:center}"
    ".consentgate-embed button{display:none;font:inherit;font-weight:600;padding:.5rem 1rem;"
    "border:2px solid #fff;border-radius:.4rem;background:#fff;color:#111;cursor:pointer}"
    ".consentgate-js .consentgate-embed button{display:inline-block}"
    ".consentgate-embed button[data-consentgate-action=once]{background:transparent;color:#fff}"
    ".consentgate-embed a{color:#fff;text-decoration:underline}"
    ".consentgate-embed :focus-visible{outline:3px solid #8ab4f8;outline-offset:2px}"
    "iframe[data-consentgate-embed][hidden]{display:none!important}"
    "</style>"
)


@dataclass(frozen=True)
class Provider:
    """Who serves an embed and what it shows."""

    name: str
    kind: Kind


def provider_of(url: str, base_host: str | None = None) -> Provider | None:
    """The provider of an embed URL: a known product by host (and path, for Google Maps on
    google.com), else the host itself without `www.`; None when the URL names no host (a
    relative URL names `base_host`, the `<base href>` host, if any)."""
    host = url_host(url, base_host)
    if host is None:
        return None
    for domain, name, kind in PROVIDERS:
        if host == domain or host.endswith("." + domain):
            return Provider(name, kind)
    if _GOOGLE.fullmatch(host):
        match = _PATH.match(url.strip())
        path = url.strip()[match.end() :] if match else ""
        if host.startswith("maps.") or path.replace("\\", "/").startswith("/maps"):
            return Provider("Google Maps", "map")
        return Provider("Google", "content")
    return Provider(host.removeprefix("www."), "content")


def box_style(width: str | None, height: str | None) -> str:
    """Inline CSS giving the placeholder the frame's box (digits only reach it, so no CSS can
    be injected): its width, shrinking with the page, and its aspect ratio."""
    w = _pixels(width)
    h = _pixels(height)
    if w and h:
        return f"width:{w}px;aspect-ratio:{w}/{h}"
    if w:
        return f"width:{w}px"
    if h:
        return f"height:{h}px"
    return ""


def _pixels(value: str | None) -> int | None:
    match = _PIXELS.fullmatch(value or "")
    return int(match.group(1)) or None if match else None


def placeholder_html(
    key: str,
    provider: Provider,
    missing: tuple[str, ...],
    names: Mapping[str, str],
    language: str,
    preferences: str,
    style: str,
    once: bool = True,
) -> str:
    """One placeholder (every value escaped; `style` comes from `box_style`); without `once`
    it offers no "Load once" (under an enforced CSP from the gateway the frame's host is not in
    the page's policy, so loading it without a grant and a reload cannot work)."""
    t, ui = EMBED[language], UI[language]
    what = t[provider.kind].format(provider=provider.name)
    purposes = t["and"].join(names.get(p, p) for p in missing)
    text = t["blocked"].format(what=what, purposes=purposes)
    style_attr = f' style="{style}"' if style else ""
    once_button = (
        f'<button type="button" data-consentgate-action="once">{escape(t["load_once"])}</button>'
        if once
        else ""
    )
    return (
        f'<div class="consentgate-embed" data-consentgate-for="{escape(key)}"'
        f' data-consentgate-purposes="{escape(" ".join(missing))}" role="group"'
        f' aria-label="{escape(what)}" lang="{language}" dir="{direction(language)}"'
        f"{style_attr}>"
        f'<p class="consentgate-embed-title">{escape(text)}</p>'
        f'<p class="consentgate-embed-actions">{once_button}'
        '<button type="button" data-consentgate-action="always">'
        f"{escape(t['always_allow'])}</button></p>"
        f'<p><a href="{escape(preferences)}">{escape(ui["preferences"])}</a></p>'
        "</div>"
    )


class EmbedPlaceholders(Stage):
    """Puts a placeholder before each frame prior blocking kept from loading (after it in the
    pipeline, so it sees the frame as the browser will)."""

    name = "embed-placeholders"
    tags = frozenset({"iframe", "script", "base"})
    attributes = frozenset({"data-consent"})
    # Like prior blocking: a frame on the page's own origin, unmarked, is never blocked.
    relative_tags = frozenset({"iframe"})
    url_attributes = frozenset({"src", "data-src"})

    def __init__(
        self,
        granted: Mapping[str, bool],
        names: Mapping[str, str],
        language: str,
        prefix: str,
    ) -> None:
        """`granted`: the visitor's state; `names`: purpose id → name in `language`;
        `prefix`: the gateway's reserved path prefix."""
        self._granted = {pid for pid, on in granted.items() if on is True}
        self._names = dict(names)
        self._language = language if language in EMBED else "en"
        self._prefix = prefix
        self._nonce: str | None = None
        self._base_host: str | None = None
        self._base_seen = False
        #: How many placeholders this page got.
        self.count = 0
        #: The page carries an enforced CSP from the gateway (`activation_script`).
        self.reload_on_grant = False

    def start_tag(self, tag: StartTag) -> None:
        """Note a script nonce; give a blocked frame its placeholder."""
        if tag.name == "script":
            self._nonce = self._nonce or nonce_of(tag)
            return
        if tag.name == "base":
            # HTML §4.2.3: the first `<base>` with an href sets where relative URLs go.
            href = tag.get("href")
            if href is not None and not self._base_seen:
                self._base_seen = True
                self._base_host = url_host(href)
            return
        if tag.name != "iframe":
            return  # a marked pixel, script or link: nothing to show in its place
        marker, parked = tag.get("data-consent"), tag.get("data-src")
        if marker is None or not parked:
            return  # loads as it is (or loads nothing at all)
        missing = tuple(p for p in purpose_ids(marker) if p not in self._granted)
        if not missing:
            return  # prior blocking would have activated it; nothing is waiting
        provider = provider_of(parked, self._base_host)
        if provider is None:
            return
        self.count += 1
        key = f"consentgate-embed-{self.count}"
        tag.set_attribute("data-consentgate-embed", key)
        tag.set_attribute("hidden", "")
        html = placeholder_html(
            key,
            provider,
            missing,
            self._names,
            self._language,
            f"{self._prefix}/preferences",
            box_style(tag.get("width"), tag.get("height")),
            once=not self.reload_on_grant,
        )
        if self.count == 1:
            # Once per page: the styles, and the script that runs every placeholder's buttons.
            runtime = activation_script(f"{self._prefix}/consent", self.reload_on_grant)
            script = with_nonce(runtime, self._nonce)
            html = STYLE + script + html
        tag.insert_before(html)
