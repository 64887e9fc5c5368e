"""css_urls finds every URL a piece of CSS fetches; neutralize_css replaces the blocked ones."""

from __future__ import annotations

import pytest

from gateway.stages.css_urls import INERT_URL, css_urls, neutralize_css


@pytest.mark.parametrize(
    ("css", "urls"),
    [
        ("background:url(https://t.example/x.png)", ["https://t.example/x.png"]),
        ("background:URL( 'https://t.example/x' )", ["https://t.example/x"]),
        ('b:url( "a" ) url(b)', ["a", "b"]),
        ("b:u\\72l(//t.example/a)", ["//t.example/a"]),  # CSS Syntax §4.3.7 escapes
        ("b:\\75 \\72 \\6c (//t.example/a)", ["//t.example/a"]),
        ("b:url(https://www.f\\61 cebook.com/tr)", ["https://www.facebook.com/tr"]),
        ('b:url("https://t.exa\\\nmple/")', ["https://t.example/"]),  # line continuation
        ("a:image-set('x.png' 1x, url(y.png) 2x)", ["x.png", "y.png"]),
        ('a:-webkit-image-set(/* " */ "z.png" 1x)', ["z.png"]),
        ("a:image-set(image-set('n.png' 1x) 1x)", ["n.png", "n.png"]),  # read twice: harmless
        ('@import "i.css";', ["i.css"]),
        ("@import url(i.css) screen;", ["i.css"]),
        ("@IMPORT/**/'i.css';", ["i.css"]),
        ('@\\69mport "i.css";', ["i.css"]),
        ("@font-face{src:url(f.woff2) format('woff2'), src('g.woff')}", ["f.woff2", "g.woff"]),
        ("u/**/rl(x)", []),  # a comment splits the name: no function
        ("xurl(x) -url(y) 5url(z)", []),  # other names
        ("color:red", []),
        ('content:"\\f101"', []),
        ("background:url(x", ["x"]),  # unclosed at the end: still read
    ],
)
def test_css_urls(css: str, urls: list[str]) -> None:
    assert [u.url for u in css_urls(css)] == urls


def test_inside_comments_and_strings_urls_are_read_anyway() -> None:
    # Fail closed: searching, not tokenizing, so a misread context never hides a URL.
    assert [u.url for u in css_urls("/* url(a) */ b:url(c)")] == ["a", "c"]
    assert [u.url for u in css_urls("/* url( */ b:url(c)")] == ["*/ b:url(c", "c"]


@pytest.mark.parametrize(
    ("css", "expected"),
    [
        ("a:url(https://t.example/x)", f"a:url({INERT_URL})"),
        ("a:url( 'https://t.example/x' )", f"a:url( '{INERT_URL}' )"),
        ("a:url(ok.png) b:url(//t.example/y)", f"a:url(ok.png) b:url({INERT_URL})"),
        ('@import "//t.example/s.css";', f'@import "{INERT_URL}";'),
        ("a:url(//t.example/a(url(//t.example/b)))", f"a:url({INERT_URL})))"),  # nested spans
        ("a:url(ok.png)", None),
    ],
)
def test_neutralize_css(css: str, expected: str | None) -> None:
    assert neutralize_css(css, lambda url: "t.example" in url) == expected
