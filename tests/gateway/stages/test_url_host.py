"""url_host reads a resource URL's host as a browser does (WHATWG URL Standard)."""

from __future__ import annotations

import pytest

from gateway.stages.url_host import srcset_urls, url_host


@pytest.mark.parametrize(
    ("value", "host"),
    [
        ("https://www.example.com/a", "www.example.com"),
        ("HTTPS://WWW.EXAMPLE.COM", "www.example.com"),
        ("//cdn.example/x.js", "cdn.example"),
        ("///cdn.example/x.js", "cdn.example"),  # any number of slashes
        ("\\\\cdn.example\\x.js", "cdn.example"),  # `\` is `/` in special URLs
        ("/\\cdn.example", "cdn.example"),
        ("https:cdn.example/x", "cdn.example"),  # fail closed: read as absolute
        ("https:\\\\cdn.example", "cdn.example"),
        ("wss://cdn.example:8443/s", "cdn.example"),
        ("https://cdn.example:443/x", "cdn.example"),
        ("https://cdn.example:/x", "cdn.example"),
        ("https://cdn.example?q@evil", "cdn.example"),  # `@` after the authority
        ("https://cdn.example#@evil", "cdn.example"),
        ("https://cdn.example@evil.example/x", "evil.example"),
        ("https://u:p@a@evil.example/x", "evil.example"),
        ("  https://cdn.example/ ", "cdn.example"),
        ("\x00\x1fhttps://cdn.example", "cdn.example"),  # C0 controls trimmed
        ("ht\ttps://cdn.\nexam\rple/x", "cdn.example"),  # tabs/newlines removed anywhere
        ("https://cdn%2Eexample/", "cdn.example"),
        ("https://CDN.Example./", "cdn.example."),  # HostIndex ignores the final dot
        ("https://ＣＤＮ．example。com/", "cdn.example.com"),  # UTS #46 mapping
        ("https://cdn\u00ad.example/", "cdn.example"),  # soft hyphen is ignored
        ("https://bücher.example/", "xn--bcher-kva.example"),
        ("http://0x7f.1/", "127.0.0.1"),
        ("http://2130706433/", "127.0.0.1"),
        ("http://0177.0.0.1/", "127.0.0.1"),
        ("http://[::1]:80/", "[::1]"),
        ("http://1.2.3.4.5/", None),  # not a valid IPv4: the browser fails
        ("http://256.0.0.1.example.256/", None),
        ("http://a b/", None),  # forbidden code point
        ("http://a%00b/", None),
        ("https://", None),
        ("https:///", None),
        ("http://[::1/", None),
        ("javascript:alert(1)", None),
        ("data:image/gif;base64,R0lG", None),
        ("blob:https://cdn.example/1", None),
        ("file:///etc/passwd", None),
        ("mailto:a@cdn.example", None),
    ],
)
def test_absolute_and_scheme_relative(value: str, host: str | None) -> None:
    assert url_host(value) == host


@pytest.mark.parametrize("value", ["x.js", "/x.js", "?q", "#f", "", "./a", "1https://cdn.example"])
def test_relative_urls_take_the_base_host(value: str) -> None:
    assert url_host(value, "base.example") == "base.example"
    assert url_host(value) is None


@pytest.mark.parametrize(
    ("value", "urls"),
    [
        ("a.png", ["a.png"]),
        ("a.png 1x, b.png 2x", ["a.png", "b.png"]),
        ("  a.png   480w ,b.png 800w", ["a.png", "b.png"]),
        ("https://x.example/a,b.png 2x", ["https://x.example/a,b.png"]),
        ("a.png,, b.png", ["a.png", "b.png"]),
        ("a.png (junk, more) 1x, b.png", ["a.png", "b.png"]),
        ("", []),
        (" , ", []),
    ],
)
def test_srcset_urls(value: str, urls: list[str]) -> None:
    assert list(srcset_urls(value)) == urls


@pytest.mark.parametrize(
    ("content", "url"),
    [
        ("0; url=https://t.example/", "https://t.example/"),
        ("5;URL='//t.example/a'", "//t.example/a"),
        (' 0 ; url = "a b" ', "a b"),
        ("3, https://t.example", "https://t.example"),  # a comma separates too
        ("0;urlx", "urlx"),  # no `=`: the rest is the URL
        ("1.5 ; u", "u"),
        (".5;url=x", "x"),
        ("0", None),  # reloads the page itself
        ("0;", None),
        ("x; url=z", None),  # no time: the pragma is ignored
        ("0x; url=z", None),
        ("0; url='https://t.example/a'b", "https://t.example/a"),  # up to the closing quote
        ("0; url='https://t.example/a", "https://t.example/a"),
    ],
)
def test_refresh_url(content: str, url: str | None) -> None:
    from gateway.stages.url_host import refresh_url

    assert refresh_url(content) == url
