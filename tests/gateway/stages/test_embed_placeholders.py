"""EmbedPlaceholders: a blocked frame gets a same-size placeholder naming provider and purpose."""

from __future__ import annotations

import re

import pytest

from gateway.html import HtmlRewriter
from gateway.html.stage import Stage
from gateway.stages.embed_placeholders import (
    EmbedPlaceholders,
    Provider,
    box_style,
    placeholder_html,
    provider_of,
)
from gateway.stages.prior_blocking import PriorBlocking
from policies.models import Config
from policies.purposes import HostIndex
from tests.consent.sample import raw

NAMES = {"marketing": "Marketing", "analytics": "Analytics"}
YOUTUBE = '<iframe src="https://www.youtube.com/embed/x" width="560" height="315"></iframe>'


def _hosts() -> HostIndex:
    data = raw()
    marketing = next(p for p in data["purposes"] if p["id"] == "marketing")
    marketing["hosts"].append("www.youtube.com")
    return HostIndex.build(Config.model_validate(data).purposes)


HOSTS = _hosts()


def run(doc: str, granted: dict[str, bool] | None = None, language: str = "en") -> str:
    """Prior blocking (the sample purposes, YouTube's host added to marketing) then
    placeholders, fed whole and byte by byte: both must agree."""
    hosts = HOSTS
    outputs = set()
    data = doc.encode()
    for step in (len(data), 1):
        state = granted or {}
        stages: list[Stage] = [
            PriorBlocking(state, hosts),
            EmbedPlaceholders(state, NAMES, language, "/_privacy"),
        ]
        rewriter = HtmlRewriter(stages, charset="utf-8")
        out = [rewriter.feed(data[i : i + step]) for i in range(0, len(data), step)]
        out.append(rewriter.close())
        outputs.add(b"".join(out).decode())
    assert len(outputs) == 1, outputs
    return outputs.pop()


@pytest.mark.parametrize(
    ("url", "name", "kind"),
    [
        ("https://www.youtube.com/embed/x", "YouTube", "video"),
        ("https://youtube.com/embed/x", "YouTube", "video"),
        ("https://www.youtube-nocookie.com/embed/x", "YouTube", "video"),
        ("//WWW.YOUTUBE.COM/embed/x", "YouTube", "video"),
        ("https://player.vimeo.com/video/1", "Vimeo", "video"),
        ("https://www.google.com/maps/embed?pb=1", "Google Maps", "map"),
        ("https://google.com/maps?q=x", "Google Maps", "map"),
        ("https://maps.google.de/maps?q=x", "Google Maps", "map"),
        ("https://www.google.co.uk/maps/embed", "Google Maps", "map"),
        ("https://maps.googleapis.com/maps/api/js", "Google Maps", "map"),
        ("https://www.google.com/search?q=x", "Google", "content"),
        ("https://www.openstreetmap.org/export/embed.html", "OpenStreetMap", "map"),
        # Not a subdomain of youtube.com: the host itself is named.
        ("https://notyoutube.com/embed", "notyoutube.com", "content"),
        ("https://www.widgets.example/w", "widgets.example", "content"),
        # The host a browser would use: after the last `@`.
        ("https://www.youtube.com@evil.example/", "evil.example", "content"),
    ],
)
def test_provider_of(url: str, name: str, kind: str) -> None:
    assert provider_of(url) == Provider(name, kind)  # type: ignore[arg-type]


@pytest.mark.parametrize("url", ["/local/embed", "data:text/html,x", "javascript:x", ""])
def test_no_provider_without_a_host(url: str) -> None:
    assert provider_of(url) is None


@pytest.mark.parametrize(
    ("width", "height", "style"),
    [
        ("560", "315", "width:560px;aspect-ratio:560/315"),
        (" 640px ", "360", "width:640px;aspect-ratio:640/360"),
        ("560.5", "315", "width:560px;aspect-ratio:560/315"),
        ("100%", "315", "height:315px"),
        ("560", None, "width:560px"),
        ("0", "0", ""),
        (None, None, ""),
        # Anything but digits never reaches the style attribute.
        ('560;background:url("x")', "315", "height:315px"),
        ("999999", "1", "height:1px"),
    ],
)
def test_box_style(width: str | None, height: str | None, style: str) -> None:
    assert box_style(width, height) == style


def test_blocked_frame_gets_a_placeholder_and_is_hidden() -> None:
    out = run(f"<body><p>x</p>{YOUTUBE}</body>")
    assert out.count('class="consentgate-embed"') == 1
    assert "YouTube video — blocked until you allow Marketing" in out
    assert 'style="width:560px;aspect-ratio:560/315"' in out
    assert 'href="/_privacy/preferences"' in out
    assert 'data-consentgate-purposes="marketing"' in out
    frame = re.search(r"<iframe[^>]*>", out)
    assert frame is not None
    tag = frame.group(0)
    # Still blocked (prior blocking's work stands), hidden, tied to its placeholder.
    assert ' src="' not in tag and 'data-src="https://www.youtube.com/embed/x"' in tag
    assert "hidden" in tag and 'data-consentgate-embed="consentgate-embed-1"' in tag
    assert out.index('data-consentgate-for="consentgate-embed-1"') < out.index("<iframe")
    # The styles and the script come once, before the first placeholder.
    assert out.count("<style>") == 1 and out.count("<script") == 1
    assert 'data-consentgate-url="/_privacy/consent"' in out


def test_granted_frame_loads_without_placeholder() -> None:
    out = run(f"<body>{YOUTUBE}</body>", {"marketing": True})
    assert "consentgate-embed" not in out and "<script" not in out
    assert 'src="https://www.youtube.com/embed/x"' in out


def test_unlisted_frame_is_left_alone() -> None:
    doc = '<body><iframe src="https://player.vimeo.com/video/1"></iframe></body>'
    assert run(doc) == doc


def test_marked_frame_names_every_missing_purpose_and_numbers_placeholders() -> None:
    marked = (
        '<iframe data-consent="analytics marketing" data-src="https://maps.google.de/maps?q=x"'
        ' width="400" height="300"></iframe>'
    )
    out = run(f"<body>{YOUTUBE}{marked}</body>", {"marketing": False})
    assert "Google Maps map — blocked until you allow Analytics and Marketing" in out
    assert 'data-consentgate-for="consentgate-embed-2"' in out
    assert out.count("<script") == 1
    out = run(f"<body>{marked}</body>", {"analytics": True})
    assert "Google Maps map — blocked until you allow Marketing" in out


def test_placeholder_in_arabic_and_thai() -> None:
    out = run(f"<body>{YOUTUBE}</body>", language="ar")
    assert 'lang="ar" dir="rtl"' in out and "فيديو YouTube — محجوب حتى تسمح بـMarketing" in out
    out = run(f"<body>{YOUTUBE}</body>", language="th")
    assert 'lang="th" dir="ltr"' in out and "โหลดครั้งเดียว" in out


def test_page_nonce_goes_on_the_placeholder_script() -> None:
    out = run(f'<head><script nonce="r4nd0m+/=">x()</script></head><body>{YOUTUBE}</body>')
    assert out.count('nonce="r4nd0m+/="') == 2
    assert '<script nonce="r4nd0m+/=" data-consentgate-url=' in out


def test_placeholder_escapes_names() -> None:
    html = placeholder_html(
        'k"1', Provider("<b>", "video"), ("x",), {"x": '"><img>'}, "en", "/p?a=1&b=2", ""
    )
    assert "<b>" not in html and "<img>" not in html
    assert 'data-consentgate-for="k&#34;1"' in html and 'href="/p?a=1&amp;b=2"' in html


def test_relative_frame_under_a_foreign_base_is_named_by_that_host() -> None:
    doc = (
        '<head><base href="https://www.youtube.com/"></head>'
        '<body><iframe src="/embed/x" width="560" height="315"></iframe></body>'
    )
    out = run(doc)
    assert "YouTube video — blocked until you allow Marketing" in out
    assert 'data-src="/embed/x"' in out
    # Without the base, a same-origin frame is not blocked and gets nothing.
    plain = '<body><iframe src="/embed/x"></iframe></body>'
    assert run(plain) == plain


def test_only_frames_get_placeholders() -> None:
    doc = (
        '<body><img data-consent="marketing" data-src="https://www.facebook.com/tr" width="1"'
        ' height="1"><script src="https://connect.facebook.net/x.js"></script>'
        '<video data-consent="marketing" data-src="https://www.youtube.com/v.mp4"></video></body>'
    )
    out = run(doc)
    assert "consentgate-embed" not in out and 'data-src="https://www.facebook.com/tr"' in out
