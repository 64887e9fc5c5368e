"""script_nonce: which page nonces are reused, and how they go on the gateway's scripts."""

from __future__ import annotations

import pytest

from gateway.html.stage import StartTag
from gateway.stages.script_nonce import nonce_of, with_nonce


def tag(name: str, **attributes: str) -> StartTag:
    return StartTag(name, list(attributes.items()), b"", False)


@pytest.mark.parametrize(
    ("element", "nonce"),
    [
        (tag("script", nonce="abc123"), "abc123"),
        (tag("script", nonce=" YWJj+/= "), "YWJj+/="),  # base64 …
        (tag("script", nonce="YWJj-_"), "YWJj-_"),  # … and base64url
        (tag("script", nonce=""), None),
        (tag("script"), None),
        (tag("script", nonce='a"b'), None),  # would break out of the attribute
        (tag("script", nonce="a b"), None),
        (tag("script", nonce="x" * 257), None),
        (tag("style", nonce="abc"), None),  # a style nonce is another policy's
    ],
)
def test_nonce_of(element: StartTag, nonce: str | None) -> None:
    assert nonce_of(element) == nonce


def test_with_nonce() -> None:
    html = '<div><script>a()</script><script data-x="1">b()</script></div>'
    assert with_nonce(html, None) == html and with_nonce(html, "") == html
    assert with_nonce(html, "n1") == (
        '<div><script nonce="n1">a()</script><script nonce="n1" data-x="1">b()</script></div>'
    )
