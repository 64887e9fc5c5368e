"""BannerInjection: right after the first `<body>` start tag, else at the end; once."""

from __future__ import annotations

import html

import pytest

from consent.banner import BannerView, PurposeView, render_banner
from gateway.html import HtmlRewriter
from gateway.stages.banner import BannerInjection
from tests.gateway.html.chunking import rewrite_at_every_cut

BANNER = '<div id="consentgate-banner">B</div>'


def run(doc: bytes, html: str = BANNER) -> bytes:
    return rewrite_at_every_cut(doc, lambda: [BannerInjection(html)])


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            "<html><head></head><body class=x><p>hi</p></body></html>",
            f"<html><head></head><body class=x>{BANNER}<p>hi</p></body></html>",
        ),
        ("<BODY\nonload='x()'>text", f"<BODY\nonload='x()'>{BANNER}text"),
        # Only once, even with a second <body> (the parser merges its attributes).
        ("<body><body>", f"<body>{BANNER}<body>"),
        # A <body> the tokenizer does not see as a tag does not count.
        (
            "<!--<body>--><script>'<body>'</script><p>x",
            f"<!--<body>--><script>'<body>'</script><p>x{BANNER}",
        ),
        # No <body> start tag: at the very end.
        ("<p>no body</p></html>", f"<p>no body</p></html>{BANNER}"),
        ("", BANNER),
        # <bodyx> is another element.
        ("<bodyx>", f"<bodyx>{BANNER}"),
    ],
)
def test_placement(doc: str, expected: str) -> None:
    assert run(doc.encode()) == expected.encode()


def test_the_real_banner_goes_in_once_and_non_ascii_survives_a_legacy_charset() -> None:
    view = BannerView(
        language="ar",
        policy_version="1",
        purposes=[PurposeView("analytics", "التحليلات", "d", granted=False, locked=False)],
        action="/_privacy/consent",
        return_to="/",
        csrf="t",
    )
    banner = render_banner(view)
    out = run(b"<body><p>x</p>", banner)
    assert out.count(b'id="consentgate-banner"') == 1
    assert out.startswith(b"<body>" + banner.encode())
    # In a page served as windows-1252 the Arabic text becomes character references.
    rewriter = HtmlRewriter([BannerInjection(banner)], charset="cp1252")
    legacy = rewriter.feed(b"<body>") + rewriter.close()
    assert "التحليلات".encode() not in legacy
    assert "التحليلات" in html.unescape(legacy.decode("cp1252"))


SCRIPTED = '<div id="consentgate-banner"><script>a()</script><script data-x="1">b()</script></div>'


@pytest.mark.parametrize(
    ("doc", "nonce"),
    [
        # CSP by nonce: the head's scripts carry it; ours get the same one.
        ('<head><script nonce="abc123+/=">x</script></head><body>', "abc123+/="),
        ('<script src="/a.js"></script><script nonce="n-_1">x</script><body>', "n-_1"),
        # None before <body>, or not a well-formed nonce: ours get none.
        ("<head></head><body><script nonce=late></script>", None),
        ('<script nonce="a&quot;b">x</script><body>', None),
        ('<script nonce="">x</script><body>', None),
    ],
)
def test_banner_scripts_take_the_page_nonce(doc: str, nonce: str | None) -> None:
    out = run(doc.encode(), SCRIPTED).decode()
    banner = out[out.index('<div id="consentgate-banner">') :]
    if nonce is None:
        assert "<script>a()</script>" in banner and "nonce" not in banner.split("</div>")[0]
    else:
        assert f'<script nonce="{nonce}">a()' in banner
        assert f'<script nonce="{nonce}" data-x="1">b()' in banner
