"""The byte-level token grammar: exact tag ends, attributes, and where skipping stops."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.html.scanner import TAG, parse_attributes, skip_pattern


@pytest.mark.parametrize(
    ("data", "end"),
    [
        (b"<a>", 3),
        (b"<a href='x>y'>z", 14),
        (b'<a b="c\'d">', 11),
        (b"<a b=c'd>", 9),
        (b"<a b = >", 8),
        (b"<a/b/>", 6),
        (b"<A\nB\tC\fD\rE>", 11),
        (b"</div foo='>'>", 14),
        (b'<a b="x"c="y">', 14),
    ],
)
def test_tag_ends_where_the_tokenizer_says(data: bytes, end: int) -> None:
    m = TAG.match(data)
    assert m is not None and m.group(4) == b">"
    assert m.end() == end
    # HTML §13.2.5: every strict prefix of a tag is an unfinished tag, never a shorter one.
    for cut in range(3 if data.startswith(b"</") else 2, end):
        prefix = TAG.match(data[:cut])
        assert prefix is not None and prefix.group(4) is None, data[:cut]


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        (b" a=1 B=\"2\" c='3' d", [("a", "1"), ("b", "2"), ("c", "3"), ("d", "")]),
        (b" a = 1 a=2", [("a", "1")]),
        (b" =x", [("=x", "")]),
        (b' x="&lt;&amp;&#x41;"', [("x", "<&A")]),
        (b" e=", [("e", "")]),
        (b"/a/b=c/", [("a", ""), ("b", "c/")]),
        (b' t="\xe9"', [("t", "é")]),
    ],
)
def test_parse_attributes(region: bytes, expected: list[tuple[str, str]]) -> None:
    assert parse_attributes(region, "cp1252") == expected


PATTERN = skip_pattern(frozenset({"script", "head"}), frozenset({"body"}), frozenset({"data-slot"}))


@pytest.mark.parametrize(
    ("data", "stop"),
    [
        (b"text <b>bold</b> <!-- c --> <!doctype html> x", None),
        (b"a<script>", 1),
        (b"a<HEAD >", 1),
        (b"a<scripts>b", None),  # another name that only starts like one
        (b"a</body>", 1),
        (b"a</head>", None),
        (b"a<div id=x DATA-SLOT='h'>", 1),
        (b"a<div data-slots=1 data-slotx>", None),
        (b"a<div title='data-slot=x'>", None),  # only attribute names count
        (b"a<div class='x", 1),  # unfinished: stop, wait for more
        (b"a<!--", 1),
        (b"a<!-", 1),
        (b"a<", 1),
        (b"a</", 1),
        (b"a<!-->b<!--->c", None),
        (b"a</>b</1 x>", None),
        (b"1 < 2", None),
    ],
)
def test_skip_pattern_stops_at_interesting_or_unfinished_markup(
    data: bytes, stop: int | None
) -> None:
    m = PATTERN.match(data)
    assert m is not None
    assert m.end() == (len(data) if stop is None else stop)


_tag_bytes = st.binary(max_size=40).map(lambda b: b"<a " + b.replace(b">", b""))


@given(_tag_bytes, st.sampled_from([b'"', b"'", b" ", b""]))
def test_skip_never_passes_a_cut_tag(head: bytes, quote: bytes) -> None:
    # Whatever the bytes, a tag the buffer cuts off is never consumed as if complete.
    data = head + quote
    m = PATTERN.match(data)
    assert m is not None and m.end() == 0
