"""`gateway.html.page_type`: the page type as the browser decides it, and the codings offered
upstream (`gateway.html.compression.upstream_accept_encoding`)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.html import page_type
from gateway.html.compression import DECODABLE, upstream_accept_encoding


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ([], None),
        ([(b"Content-Type", b"text/html")], b"text/html"),
        # Fetch "extract a MIME type": the last valid type wins, across fields and commas.
        ([(b"content-type", b"text/plain"), (b"Content-Type", b"text/html")], b"text/html"),
        ([(b"content-type", b"text/html"), (b"content-type", b"text/plain")], b"text/plain"),
        ([(b"content-type", b"text/plain, text/html; charset=utf-8")], b"text/html; charset=utf-8"),
        ([(b"content-type", b"text/html, */*")], b"text/html"),  # */* is skipped
        ([(b"content-type", b"text/html, nonsense")], b"text/html"),  # invalid is skipped
        ([(b"content-type", b'text/html; x="a,b"')], b'text/html; x="a,b"'),  # quoted comma
        ([(b"content-type", b"")], None),
        ([(b"content-type", b"garbage")], None),
    ],
)
def test_content_type_is_the_last_valid_one(
    fields: list[tuple[bytes, bytes]], expected: bytes | None
) -> None:
    assert page_type.content_type(fields) == expected


@pytest.mark.parametrize(
    ("value", "essence"),
    [
        (b"text/html", b"text/html"),
        (b"Text/HTML; charset=UTF-8", b"text/html"),
        (b" text/html ;x=y", b"text/html"),
        (b"application/xhtml+xml", b"application/xhtml+xml"),
        (b"text/", b""),
        (b"/html", b""),
        (b"te xt/html", b""),
        (b"", b""),
        (None, b""),
    ],
)
def test_essence(value: bytes | None, essence: bytes) -> None:
    assert page_type.essence_of(value) == essence


@pytest.mark.parametrize(
    ("value", "sniff"),
    [
        (None, True),
        (b"", True),
        (b"unknown/unknown", True),
        (b"application/unknown", True),
        (b"*/*", True),
        (b"text/plain", False),
        (b"text/html", False),
        (b"image/png", False),
    ],
)
def test_needs_sniffing(value: bytes | None, sniff: bool) -> None:
    assert page_type.needs_sniffing(value) is sniff


@pytest.mark.parametrize(
    ("head", "page"),
    [
        (b"<!DOCTYPE html><html>", True),
        (b"\n\t <HTML lang=en>", True),
        (b"<script src=x>", True),
        (b"<p>hello", True),
        (b"<!-- x --><div>", True),
        (b"<?xml version='1.0'?><html xmlns='http://www.w3.org/1999/xhtml'>", True),
        (b"<a href=x>", True),
        (b"<abbr>", False),  # <a must be followed by a space or '>'
        (b"\x89PNG\r\n\x1a\n", False),
        (b"GIF89a", False),
        (b'{"json": true}', False),
        (b"plain text <p>", False),
        (b"", False),
    ],
)
def test_sniffing(head: bytes, page: bool) -> None:
    assert page_type.sniffs_as_page(head) is page


_CODINGS = st.sampled_from(["gzip", "deflate", "br", "zstd", "compress", "identity", "*", "x-gzip"])
_ITEMS = st.tuples(_CODINGS, st.sampled_from(["", ";q=0", ";q=0.5", ";q=1", ";q=junk"]))


@given(st.lists(_ITEMS, max_size=6))
def test_upstream_is_offered_only_decodable_codings_the_client_accepts(
    items: list[tuple[str, str]],
) -> None:
    client = ", ".join(coding + q for coding, q in items)
    offered = upstream_accept_encoding(client).split(", ")
    if offered == ["identity"]:
        return
    assert set(offered) <= set(DECODABLE)
    for coding in offered:
        # The client accepts it: listed with q > 0, or covered by `*` and not refused.
        named = [q for c, q in items if c in (coding, "x-gzip" if coding == "gzip" else coding)]
        if named:
            assert named[0] in ("", ";q=0.5", ";q=1")
        else:
            assert any(c == "*" and q in ("", ";q=0.5", ";q=1") for c, q in items)
