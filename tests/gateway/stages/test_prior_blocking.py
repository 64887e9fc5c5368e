"""PriorBlocking: marked and tracker-host elements stay inert until every purpose is granted."""

from __future__ import annotations

from collections.abc import Mapping
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from gateway.html import HtmlRewriter
from gateway.stages.prior_blocking import Blocked, PriorBlocking
from gateway.stages.url_host import srcset_urls, url_host
from policies.models import Purpose
from policies.purposes import HostIndex
from tests.gateway.html.chunking import rewrite_at_every_cut

# The demo shop's purposes: realistic hosts (exact names and `*.hotjar.com`).
_BASE = Path(__file__).parents[3] / "gateway" / "demo" / "policies.base.yaml"
PURPOSES = [Purpose.model_validate(p) for p in yaml.safe_load(_BASE.read_text())["purposes"]]
HOSTS = HostIndex.build(PURPOSES)
ALL = {p.id: True for p in PURPOSES}
NONE: dict[str, bool] = {p.id: p.id == "essential" for p in PURPOSES}
ANALYTICS = {**NONE, "analytics": True}
MARKETING = {**NONE, "marketing": True}

GA = "https://www.googletagmanager.com/gtag/js?id=G-1"


def run(doc: bytes, granted: Mapping[str, bool], hosts: HostIndex = HOSTS) -> bytes:
    return rewrite_at_every_cut(doc, lambda: [PriorBlocking(granted, hosts)])


def blocked_of(doc: bytes, granted: Mapping[str, bool]) -> list[Blocked]:
    stage = PriorBlocking(granted, HOSTS)
    rewriter = HtmlRewriter([stage], charset="utf-8")
    rewriter.feed(doc)
    rewriter.close()
    return stage.blocked


SAME = None  # expected output: the input, byte for byte

CASES: list[tuple[str, bytes, Mapping[str, bool], bytes | None]] = [
    # --- unmarked, by host ---------------------------------------------------------------
    (
        "tracker script, nothing granted",
        b'<script async src="' + GA.encode() + b'"></script>',
        NONE,
        b'<script async data-src="' + GA.encode() + b'" type="text/plain"'
        b' data-consent="analytics" data-consentgate="blocked"></script>',
    ),
    (
        "tracker script, granted",
        b'<script async src="' + GA.encode() + b'"></script>',
        ANALYTICS,
        SAME,
    ),
    (
        "a JS type is kept in data-type",
        b'<script type="text/javascript" src="https://connect.facebook.net/f.js"></script>',
        NONE,
        b'<script type="text/plain" data-src="https://connect.facebook.net/f.js"'
        b' data-type="text/javascript" data-consent="marketing" data-consentgate="blocked">'
        b"</script>",
    ),
    (
        "uppercase tag, attributes and host; module type",
        b"<SCRIPT TYPE=module SRC=HTTPS://STATIC.HOTJAR.COM/c.js></SCRIPT>",
        NONE,
        b'<script type="text/plain" data-src="HTTPS://STATIC.HOTJAR.COM/c.js"'
        b' data-type="module" data-consent="analytics" data-consentgate="blocked"></SCRIPT>',
    ),
    (
        "protocol-relative",
        b"<script src=//static.hotjar.com/c.js></script>",
        NONE,
        b'<script data-src="//static.hotjar.com/c.js" type="text/plain"'
        b' data-consent="analytics" data-consentgate="blocked"></script>',
    ),
    (
        "backslashes count as slashes in http(s) URLs",
        b"<script src='\\\\static.hotjar.com\\c.js'></script>",
        NONE,
        b'<script data-src="\\\\static.hotjar.com\\c.js" type="text/plain"'
        b' data-consent="analytics" data-consentgate="blocked"></script>',
    ),
    (
        "subdomain of *.hotjar.com, with a port",
        b'<script src="https://script.hotjar.com:443/modules.js"></script>',
        NONE,
        b'<script data-src="https://script.hotjar.com:443/modules.js" type="text/plain"'
        b' data-consent="analytics" data-consentgate="blocked"></script>',
    ),
    ("the apex is not a subdomain", b'<script src="https://hotjar.com/x.js"></script>', NONE, SAME),
    (
        "a look-alike host is not listed",
        b'<script src="https://static.hotjar.com.evil.example/x.js"></script>',
        NONE,
        SAME,
    ),
    (
        "userinfo trick: the host is after the last @",
        b'<script src="https://www.googletagmanager.com@cdn.example/x.js"></script>',
        NONE,
        SAME,
    ),
    (
        "userinfo trick the other way round",
        b'<script src="https://cdn.example:x@www.googletagmanager.com/gtm.js"></script>',
        NONE,
        b'<script data-src="https://cdn.example:x@www.googletagmanager.com/gtm.js"'
        b' type="text/plain" data-consent="analytics" data-consentgate="blocked"></script>',
    ),
    (
        "several @: credentials run to the last one",
        b'<img src="https://a@b@www.facebook.com/tr">',
        NONE,
        b'<img data-src="https://a@b@www.facebook.com/tr" data-consent="marketing"'
        b' data-consentgate="blocked">',
    ),
    (
        "whitespace and a newline (as a character reference) inside the URL",
        b'<script src=" \thttps://www.google&#10;tagmanager.com/gtm.js"></script>',
        NONE,
        b'<script data-src=" \thttps://www.google\ntagmanager.com/gtm.js" type="text/plain"'
        b' data-consent="analytics" data-consentgate="blocked"></script>',
    ),
    (
        "percent-encoded and full-width host",
        "<img src='http://www%2Efacebook%2Ecom/tr'><img src='https://ｗｗｗ.facebook。com/tr'>".encode(),
        NONE,
        '<img data-src="http://www%2Efacebook%2Ecom/tr" data-consent="marketing"'
        ' data-consentgate="blocked"><img data-src="https://ｗｗｗ.facebook。com/tr"'
        ' data-consent="marketing" data-consentgate="blocked">'.encode(),
    ),
    (
        "scheme without slashes (absolute on an http page: fail closed)",
        b'<script src="https:www.googletagmanager.com/gtm.js"></script>',
        NONE,
        b'<script data-src="https:www.googletagmanager.com/gtm.js" type="text/plain"'
        b' data-consent="analytics" data-consentgate="blocked"></script>',
    ),
    (
        "first-party and relative URLs stay",
        b'<script src="/js/app.js"></script><script src="app.js"></script>',
        NONE,
        SAME,
    ),
    (
        "non-network schemes stay",
        b'<iframe src="javascript:void 0"></iframe><img src="data:,x">',
        NONE,
        SAME,
    ),
    ("inline scripts cannot be classified by host", b"<script>gtag('js')</script>", NONE, SAME),
    (
        "a tracker URL inside a comment or script text is not a tag",
        b'<!--<script src="' + GA.encode() + b'"></script>--><script>var s="<img src=//www.f'
        b'acebook.com/tr>"</script>',
        NONE,
        SAME,
    ),
    (
        "duplicate attribute: the browser uses the first",
        b'<script src="/a.js" src="' + GA.encode() + b'"></script>',
        NONE,
        SAME,
    ),
    (
        "a <base> on a tracker host makes relative URLs trackers",
        b'<base href="https://www.googletagmanager.com/"><script src="gtm.js"></script>'
        b'<base href="/other/"><img src="/p.gif">',
        NONE,
        b'<base href="https://www.googletagmanager.com/"><script data-src="gtm.js"'
        b' type="text/plain" data-consent="analytics" data-consentgate="blocked"></script>'
        b'<base href="/other/"><img data-src="/p.gif" data-consent="analytics"'
        b' data-consentgate="blocked">',
    ),
    (
        "pixel",
        b'<img height=1 width=1 src="https://www.facebook.com/tr?id=1&amp;ev=PageView">',
        NONE,
        b'<img height="1" width="1" data-src="https://www.facebook.com/tr?id=1&amp;ev=PageView"'
        b' data-consent="marketing" data-consentgate="blocked">',
    ),
    ("pixel, granted", b'<img src="https://www.facebook.com/tr">', MARKETING, SAME),
    (
        "only the srcset holding a tracker is parked; src stays",
        b'<img src=a.jpg srcset="a2.jpg 2x, https://x.hotjar.com/p,1.gif 3x">',
        NONE,
        b'<img src="a.jpg" data-srcset="a2.jpg 2x, https://x.hotjar.com/p,1.gif 3x"'
        b' data-consent="analytics" data-consentgate="blocked">',
    ),
    (
        "picture source, video poster, embed",
        b'<source srcset="https://www.youtube.com/a.webp"><video poster="//www.youtube.com/p.jpg">'
        b"<embed src=https://www.youtube.com/v>",
        NONE,
        b'<source data-srcset="https://www.youtube.com/a.webp" data-consent="marketing"'
        b' data-consentgate="blocked"><video data-poster="//www.youtube.com/p.jpg"'
        b' data-consent="marketing" data-consentgate="blocked"><embed'
        b' data-src="https://www.youtube.com/v" data-consent="marketing"'
        b' data-consentgate="blocked">',
    ),
    (
        "youtube iframe",
        b'<iframe src="https://www.youtube.com/embed/x" allowfullscreen></iframe>',
        ANALYTICS,
        b'<iframe allowfullscreen data-src="https://www.youtube.com/embed/x"'
        b' data-consent="marketing" data-consentgate="blocked"></iframe>',
    ),
    (
        "link hints and stylesheets reach the host",
        b'<link rel=preconnect href="https://www.google-analytics.com">'
        b'<link rel="dns-prefetch" href="//static.hotjar.com">'
        b'<link rel=preload as=image imagesrcset="https://x.hotjar.com/i.png 1x">',
        NONE,
        b'<link rel="preconnect" data-href="https://www.google-analytics.com"'
        b' data-consent="analytics" data-consentgate="blocked">'
        b'<link rel="dns-prefetch" data-href="//static.hotjar.com" data-consent="analytics"'
        b' data-consentgate="blocked"><link rel="preload" as="image"'
        b' data-imagesrcset="https://x.hotjar.com/i.png 1x" data-consent="analytics"'
        b' data-consentgate="blocked">',
    ),
    ("a first-party link stays", b'<link rel=stylesheet href="/static/shop.css">', NONE, SAME),
    (
        "an unmarked inert script with a tracker src loses the src too",
        b'<script type="text/plain" src="' + GA.encode() + b'"></script>',
        NONE,
        b'<script type="text/plain" data-src="' + GA.encode() + b'" data-consent="analytics"'
        b' data-consentgate="blocked"></script>',
    ),
    (
        "language=javascript without a type runs, so it is blocked",
        b'<script language="javascript" src="//www.google-analytics.com/ga.js"></script>',
        NONE,
        b'<script language="javascript" data-src="//www.google-analytics.com/ga.js"'
        b' type="text/plain" data-consent="analytics" data-consentgate="blocked"></script>',
    ),
    # A browser with JavaScript off parses <noscript> content and loads the pixel, so it is
    # neutralized like any other (with scripting on it is inert text either way).
    (
        "noscript pixel is neutralized",
        b'<noscript><img src="https://www.facebook.com/tr?id=1&noscript=1"></noscript>',
        NONE,
        b'<noscript><img data-src="https://www.facebook.com/tr?id=1&amp;noscript=1"'
        b' data-consent="marketing" data-consentgate="blocked"></noscript>',
    ),
    # --- marked --------------------------------------------------------------------------
    (
        "marked inert script, not granted: byte-identical",
        b'<script type="text/plain" data-consent="analytics" data-src="'
        + GA.encode()
        + b'"></script>',
        NONE,
        SAME,
    ),
    (
        "marked inert script, granted: active",
        b'<script type="text/plain" data-consent="analytics" data-src="'
        + GA.encode()
        + b'"></script>',
        ANALYTICS,
        b'<script data-consent="analytics" src="' + GA.encode() + b'"></script>',
    ),
    (
        "marked inert module, granted: data-type restored",
        b"<script type=text/plain data-type=module data-consent=analytics data-src=/m.js></script>",
        ANALYTICS,
        b'<script type="module" data-consent="analytics" src="/m.js"></script>',
    ),
    (
        "marked inline script, granted",
        b"<script TYPE='TEXT/PLAIN' data-consent=analytics>gtag('js')</script>",
        ANALYTICS,
        b"<script data-consent=\"analytics\">gtag('js')</script>",
    ),
    (
        "marked inline script, not granted: byte-identical",
        b"<script TYPE='TEXT/PLAIN' data-consent=analytics>gtag('js')</script>",
        MARKETING,
        SAME,
    ),
    (
        "several purposes: all are needed",
        b"<script type=text/plain data-consent='analytics marketing' data-src=/x.js></script>",
        ANALYTICS,
        SAME,
    ),
    (
        "several purposes, comma separated, all granted",
        b"<script type=text/plain data-consent='analytics, marketing' data-src=/x.js></script>",
        ALL,
        b'<script data-consent="analytics, marketing" src="/x.js"></script>',
    ),
    (
        "an unknown purpose is never granted",
        b"<script type=text/plain data-consent='analytics ads' data-src=/x.js></script>",
        ALL,
        SAME,
    ),
    (
        "an empty marker names nothing granted",
        b"<script type=text/plain data-consent='' data-src=/x.js></script>",
        ALL,
        SAME,
    ),
    (
        "the marker and the host both count",
        b"<script type=text/plain data-consent=marketing data-src=" + GA.encode() + b"></script>",
        MARKETING,
        SAME,
    ),
    (
        "the demo's marked loader with a plain src (inert), not granted",
        b'<script type="text/plain" data-consent="analytics" async src="'
        + GA.encode()
        + b'"></script>',
        NONE,
        b'<script type="text/plain" data-consent="analytics" async data-src="'
        + GA.encode()
        + b'" data-consentgate="blocked"></script>',
    ),
    (
        "the demo's marked loader with a plain src (inert), granted",
        b'<script type="text/plain" data-consent="analytics" async src="'
        + GA.encode()
        + b'"></script>',
        ANALYTICS,
        b'<script data-consent="analytics" async src="' + GA.encode() + b'"></script>',
    ),
    (
        "a marked live script is neutralized even on a first-party URL",
        b"<script data-consent=analytics src=/js/stats.js></script>",
        NONE,
        b'<script data-consent="analytics" data-src="/js/stats.js" type="text/plain"'
        b' data-consentgate="blocked"></script>',
    ),
    (
        "a marked live inline script is neutralized",
        b"<script data-consent=personalization>track()</script>",
        ANALYTICS,
        b'<script data-consent="personalization" type="text/plain"'
        b' data-consentgate="blocked">track()</script>',
    ),
    (
        "a marked live script, granted, stays",
        b"<script data-consent=analytics src=/js/stats.js></script>",
        ANALYTICS,
        SAME,
    ),
    (
        "a marked non-JS block (JSON) is never turned into a script",
        b'<script type="application/json" data-consent="analytics">{}</script>',
        ALL,
        SAME,
    ),
    (
        "marked pixel (the demo's), not granted: byte-identical",
        b'<img data-consent="marketing" data-src="https://www.facebook.com/tr?id=1&ev=PageView"'
        b' width="1" height="1" alt="" style="display:none">',
        NONE,
        SAME,
    ),
    (
        "marked pixel, granted",
        b'<img data-consent="marketing" data-src="https://www.facebook.com/tr?id=1&ev=PageView"'
        b' width="1">',
        MARKETING,
        b'<img data-consent="marketing" width="1"'
        b' src="https://www.facebook.com/tr?id=1&amp;ev=PageView">',
    ),
    (
        "marked image that is live, not granted",
        b"<IMG DATA-CONSENT=marketing SRC=/pixel.gif>",
        NONE,
        b'<img data-consent="marketing" data-src="/pixel.gif" data-consentgate="blocked">',
    ),
    (
        "marked image with a first-party placeholder src keeps it",
        b"<img data-consent=marketing src=/blank.gif data-src=https://www.facebook.com/tr>",
        NONE,
        SAME,
    ),
    (
        "marked image with a placeholder, granted: the real URL replaces it",
        b"<img data-consent=marketing src=/blank.gif data-src=https://www.facebook.com/tr>",
        MARKETING,
        b'<img data-consent="marketing" src="https://www.facebook.com/tr">',
    ),
    (
        "marked iframe, granted, with srcset-less attributes kept",
        b'<iframe data-consent="marketing" data-src="https://www.youtube.com/embed/x"'
        b" allowfullscreen></iframe>",
        MARKETING,
        b'<iframe data-consent="marketing" allowfullscreen'
        b' src="https://www.youtube.com/embed/x"></iframe>',
    ),
    ("a marked div is not a resource", b"<div data-consent=marketing>x</div>", NONE, SAME),
]


@pytest.mark.parametrize(
    ("doc", "granted", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_cases(doc: bytes, granted: Mapping[str, bool], expected: bytes | None) -> None:
    assert run(doc, granted) == (doc if expected is None else expected)


def test_blocked_lists_what_was_held_back() -> None:
    doc = (
        b'<script src="' + GA.encode() + b'"></script>'
        b"<img data-consent=marketing data-src=https://www.facebook.com/tr>"
        b"<script data-consent=analytics>x()</script><img src=/ok.png>"
    )
    assert blocked_of(doc, NONE) == [
        Blocked("script", GA, ("analytics",), ("analytics",), "neutralized"),
        Blocked("img", "https://www.facebook.com/tr", ("marketing",), ("marketing",), "kept-inert"),
        Blocked("script", None, ("analytics",), ("analytics",), "neutralized"),
    ]
    stage = PriorBlocking(ALL, HOSTS)
    rewriter = HtmlRewriter([stage], charset="utf-8")
    rewriter.feed(doc)
    rewriter.close()
    assert stage.blocked_count == 0
    assert stage.activated == ["https://www.facebook.com/tr"]


def test_the_demo_page_loads_no_tracker_before_consent() -> None:
    page = (Path(__file__).parents[3] / "gateway/demo/templates/base.html").read_bytes()
    out = run_once(page, NONE)
    assert _live_urls(out) == [("link", "href", "/static/shop.css"), ("link", "href", "data:,")]
    granted = run_once(page, ALL)
    assert ("script", "src", GA.replace("G-1", "G-DEMO")) in _live_urls(granted)
    assert b"data-consentgate" not in granted


def run_once(doc: bytes, granted: Mapping[str, bool]) -> bytes:
    rewriter = HtmlRewriter([PriorBlocking(granted, HOSTS)], charset="utf-8")
    return rewriter.feed(doc) + rewriter.close()


# --- properties ------------------------------------------------------------------------------

RESOURCE_ATTRS = {"src", "href", "srcset", "imagesrcset", "poster"}
RESOURCE_TAGS = {"script", "iframe", "img", "link", "source", "embed", "video", "audio"}


class _Resources(HTMLParser):
    """An independent tokenizer (the stdlib's) listing every live resource URL."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in RESOURCE_TAGS:
            seen = set()
            for name, value in attrs:
                if name in RESOURCE_ATTRS and name not in seen and value is not None:
                    self.found.append((tag, name, value))
                seen.add(name)


def _live_urls(page: bytes) -> list[tuple[str, str, str]]:
    parser = _Resources()
    parser.feed(page.decode("utf-8"))
    parser.close()
    return parser.found


def _hosts_in(attr: str, value: str) -> list[str | None]:
    urls = srcset_urls(value) if attr.endswith("srcset") else [value]
    return [url_host(u) for u in urls]


TRACKER_HOSTS = [
    "www.googletagmanager.com",
    "static.hotjar.com",
    "a.b.hotjar.com",
    "connect.facebook.net",
    "www.facebook.com",
    "analytics.tiktok.com",
    "www.youtube.com",
    "www.google-analytics.com",
]
CLEAN_HOSTS = ["cdn.shop.example", "hotjar.com", "facebook.com.evil.example", "img.example"]


@st.composite
def tracker_urls(draw: st.DrawFn) -> str:
    """A URL on a listed host, spelled the ways browsers accept."""
    host = draw(st.sampled_from(TRACKER_HOSTS))
    host = draw(
        st.sampled_from(
            [
                host,
                host.upper(),
                host + ":443",
                "user:pw@" + host,
                host.replace(".", "%2E", 1),
                "evil.example@" + host,
                "a@b@" + host,
            ]
        )
    )
    prefix = draw(st.sampled_from(["https://", "http://", "//", "\\\\", "HTTPS:", " https://"]))
    return prefix + host + draw(st.sampled_from(["/", "/x.js?a=1&b=2", "", "#f", "?q"]))


@st.composite
def clean_urls(draw: st.DrawFn) -> str:
    host = draw(st.sampled_from(CLEAN_HOSTS))
    return draw(
        st.sampled_from(
            [
                "https://" + host + "/a.js",
                "//" + host + "/i.png",
                "/local.js",
                "img.png",
                "https://www.googletagmanager.com@" + host + "/x",
                "data:,x",
            ]
        )
    )


def _attr(name: str, value: str, quote: str) -> str:
    escaped = value.replace("&", "&amp;").replace(quote, "&quot;" if quote == '"' else "&#39;")
    return f" {name}={quote}{escaped}{quote}"


@st.composite
def elements(draw: st.DrawFn, urls: st.SearchStrategy[str], marked: bool) -> str:
    tag = draw(st.sampled_from(["script", "iframe", "img", "link", "source", "embed", "video"]))
    attr = {"link": "href", "video": "poster"}.get(tag, "src")
    if tag in ("img", "source") and draw(st.booleans()):
        attr = "srcset"
    quote = draw(st.sampled_from(['"', "'"]))
    url = draw(urls)
    value = f"{url} 1x, {draw(urls)} 2x" if attr == "srcset" else url
    attrs = _attr(attr, value, quote)
    if tag == "script" and draw(st.booleans()):
        script_type = draw(st.sampled_from(["module", "text/javascript", ""]))
        attrs = _attr("type", script_type, quote) + attrs
    if marked and draw(st.booleans()):
        attrs += _attr("data-consent", draw(st.sampled_from(["analytics", "marketing"])), quote)
    name = tag.upper() if draw(st.booleans()) else tag
    closing = f"</{tag}>" if tag in ("script", "iframe", "video") else ""
    return f"<{name}{attrs}>{closing}"


FILLER = st.sampled_from(
    [
        "<p>text</p>",
        "<div data-slot=hero>x</div>",
        "<!-- <script src=//x.example> -->",
        "\n",
        "<script>var a = '<img src=x>';</script>",
        "<a href=https://www.facebook.com/shop>fb</a>",
        "<style>p{}</style>",
        "&amp; <b>bold</b>",
    ]
)


def pages(urls: st.SearchStrategy[str], marked: bool) -> st.SearchStrategy[str]:
    parts = st.lists(st.one_of(elements(urls, marked), FILLER), max_size=12)
    return parts.map(lambda p: "<!doctype html><html><head></head><body>" + "".join(p))


def _feed_in_chunks(doc: bytes, stage: PriorBlocking, cuts: list[int]) -> bytes:
    rewriter = HtmlRewriter([stage], charset="utf-8")
    out, last = [], 0
    for cut in sorted({c for c in cuts if 0 < c < len(doc)}) + [len(doc)]:
        out.append(rewriter.feed(doc[last:cut]))
        last = cut
    return b"".join(out) + rewriter.close()


@given(pages(clean_urls(), marked=True), st.lists(st.integers(0, 2000)))
def test_everything_granted_and_no_tracker_changes_nothing(page: str, cuts: list[int]) -> None:
    doc = page.encode()
    stage = PriorBlocking(ALL, HOSTS)
    assert _feed_in_chunks(doc, stage, cuts) == doc
    assert stage.blocked == []


@given(pages(st.one_of(tracker_urls(), clean_urls()), marked=True), st.lists(st.integers(0, 2000)))
def test_nothing_granted_leaves_no_live_tracker_url(page: str, cuts: list[int]) -> None:
    doc = page.encode()
    out = _feed_in_chunks(doc, PriorBlocking(NONE, HOSTS), cuts)
    for tag, attr, value in _live_urls(out):
        for host in _hosts_in(attr, value):
            assert host is None or not HOSTS.purposes_for(host), (tag, attr, value)


# --- the scanner's same-origin shortcut ------------------------------------------------------
# Tags whose URLs are all same-origin relative never reach the stage (`relative_tags`); the
# output must be what the stage would have produced had it seen every tag.

TRICKY_VALUES = [
    "/static/p1.jpg", "img.png?v=3", "", "/a//b.jpg", "./x.js", "/%2F%2Fwww.facebook.com/x",
    "//www.facebook.com/tr", "/\\www.facebook.com/tr", "\\/www.facebook.com/tr",
    "/\t/www.facebook.com/tr", " //www.facebook.com/tr", "\n//connect.facebook.net/x.js",
    "&#47;/www.facebook.com/tr", "&#x2F;&#x2F;static.hotjar.com/c.js", "https:www.facebook.com",
    "HTTPS://WWW.FACEBOOK.COM/", "/p.jpg 1x, //www.facebook.com/tr 2x",
    "/a.jpg,//static.hotjar.com/x", "/a.jpg 1x,/b.jpg 2x", "/ü.jpg", "/a.jpg\x00//www.facebook.com",
    "refresh", "0;url=/x", "0;url=//www.facebook.com/tr", "background:url(//www.facebook.com/t)",
    "/a /b", "<img src=//www.facebook.com/tr>", "#frag",
]  # fmt: skip


@st.composite
def raw_elements(draw: st.DrawFn) -> str:
    tag = draw(
        st.sampled_from(
            ["img", "IMG", "link", "source", "embed", "video", "audio", "script", "td", "input"]
            + ["object", "use", "image", "feImage", "track", "body", "a", "meta", "iframe"]
        )
    )
    names = ["src", "SRC", "srcset", "href", "poster", "imagesrcset", "data-src", "alt", "srcx"]
    names += ["background", "data", "xlink:href", "ping", "style", "srcdoc", "http-equiv"]
    parts = []
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(names))
        value = draw(st.sampled_from(TRICKY_VALUES))
        quote = draw(st.sampled_from(['"', "'", ""]))
        if not quote and any(c in value for c in " \t\n\"'=<>`") or not value and not quote:
            quote = '"'
        spacing = draw(st.sampled_from(["", " ", "\n"]))
        parts.append(f" {name}{spacing}={spacing}{quote}{value}{quote}")
    if draw(st.booleans()):
        parts.append(" data-consent=" + draw(st.sampled_from(["analytics", '""', "marketing"])))
    closing = f"</{tag}>" if tag in ("script", "iframe") else ""
    return f"<{tag}{''.join(parts)}{draw(st.sampled_from(['>', '/>', ' >']))}{closing}"


BASES = st.sampled_from(["", '<base href="/shop/">', '<base href="https://www.facebook.com/">'])


@given(
    BASES,
    st.lists(st.one_of(raw_elements(), FILLER), max_size=10),
    st.sampled_from([ALL, NONE, ANALYTICS]),
)
def test_skipping_relative_urls_changes_no_output(
    base: str, parts: list[str], granted: Mapping[str, bool]
) -> None:
    doc = ("<!doctype html><html><head>" + base + "</head><body>" + "".join(parts)).encode()

    class SeesEverything(PriorBlocking):
        relative_tags: frozenset[str] = frozenset()

    fast, slow = PriorBlocking(granted, HOSTS), SeesEverything(granted, HOSTS)
    assert _feed_in_chunks(doc, fast, []) == _feed_in_chunks(doc, slow, [])
    assert fast.blocked == slow.blocked
