"""The native scanner (`_fastscan.c`) against the regexes it mirrors (`scanner.py`).

Same positions, byte for byte: where the plain-markup run ends (`skipper`) and where the next
stop starts (`stop_finder`), on markup built from the grammar's tricky pieces (quotes, `=`,
comment ends, relative and absolute URLs, srcset lists, cut tags) at every offset and bound.
The rewriter's own tests run on the native scanner when it is built (it is in CI: see
`test_the_native_scanner_is_built`).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gateway.html import scanner
from gateway.html.rewriter import HtmlRewriter
from gateway.html.scanner import skipper, stop_finder
from gateway.html.slot_fill import SlotFill
from gateway.stages.prior_blocking import PriorBlocking
from policies.purposes import HostIndex
from tests.environment import needs

native = needs(scanner.NATIVE, "the C extension gateway/html/_fastscan.c is not built")

# Pieces that steer the tokenizer, and names the finders are asked about.
PIECES = [
    "<", "</", ">", "/>", "<!--", "-->", "--!>", "<!-", "<!", "<?", "</>", "-", "!", " ", "\n",
    "\t", "=", '"', "'", "/", "//", "\\", ",", ":", "&", "?", "#", "x", "A", "1", "é",
    "img", "IMG", "script", "SCRIPT", "a", "svg", "link", "source", "div", "p", "src", "SRC",
    "srcset", "href", "data-src", "data-consent", "data-slot", "alt", "/img/a.jpg",
    "https://t.example/p.gif", " 2x, /b.jpg 1x", "<img src=", '<img src="', "<script>",
    "</script>", "<a href=", " data-consent=", "<source srcset=", "<svg>", "</svg>", "a//b",
    "/\\", " src=/x//y", " srcset='a.jpg 1x,//b.jpg'",
]  # fmt: skip
NAMES = ["script", "img", "a", "svg", "link", "source", "div", "p", "iframe", "title"]
URL_ATTRS = ["src", "href", "data-src", "srcset", "data-srcset", "poster"]
ATTRS = ["data-consent", "data-slot", "alt"]

markup = st.lists(st.sampled_from(PIECES), max_size=40).map(lambda p: "".join(p).encode())
names = st.frozensets(st.sampled_from(NAMES))
optional_names = st.none() | names


@native
def test_the_native_scanner_is_built() -> None:
    # CI builds it (`pip install -e .` compiles gateway/html/_fastscan.c) and `needs` fails
    # there without it: a silent fallback to the regexes would cost the gateway most of its
    # throughput (bench/RESULTS.md).
    assert scanner.NATIVE


@native
@settings(max_examples=max(settings().max_examples * 20, 1000))
@given(markup, st.booleans(), st.booleans(), st.data())
@example(b"<!---->x", True, True, None)
@example(b"<a b= >c", True, True, None)
@example(b"<!-- a --!> b -->", True, True, None)
def test_skip_ends_where_the_regex_does(
    data: bytes, pass_start: bool, pass_end: bool, draw: st.DataObject | None
) -> None:
    regex, fast = skipper(pass_start, pass_end, False), skipper(pass_start, pass_end, True)
    bounds = [(0, len(data))]
    if draw is not None:
        pos = draw.draw(st.integers(0, len(data)))
        bounds.append((pos, draw.draw(st.integers(pos, len(data)))))
    for pos, end in bounds:
        assert fast(data, pos, end) == regex(data, pos, end), (data, pos, end)


def on_img(doc: bytes, url_attr: str = "src", attrs: frozenset[str] = frozenset()) -> Any:
    """An example of `doc` at 0 where the finder looks at `img` and its `url_attr` only."""
    return example(
        doc, frozenset(), frozenset(), frozenset({"img"}), frozenset({url_attr}), attrs, 0
    )


@native
@settings(max_examples=max(settings().max_examples * 20, 1000))
@given(
    markup,
    optional_names,
    optional_names,
    names,
    st.frozensets(st.sampled_from(URL_ATTRS)),
    st.frozensets(st.sampled_from(ATTRS)),
    st.integers(0, 200),
)
@on_img(b'<img src="/a.jpg">')
# A `//` inside a path is still same-origin; only a leading one is scheme-relative (found by
# a 100,000-case comparison: the native scanner first refused `//` anywhere).
@on_img(b"<img src=a?//x>")
@on_img(b"<img src=//evil/x.gif>")
@on_img(
    b'<img srcset="/a.jpg 1x, /b.jpg 2x" data-consent=x>',
    url_attr="srcset",
    attrs=frozenset({"data-consent"}),
)
def test_stop_is_where_the_regex_finds_it(
    data: bytes,
    start: frozenset[str] | None,
    end: frozenset[str] | None,
    relative: frozenset[str],
    url_attrs: frozenset[str],
    attrs: frozenset[str],
    pos: int,
) -> None:
    if start is None:
        relative = frozenset()  # the rewriter never combines the two
    else:
        start = start - relative
    lowered = data.lower()
    pos = min(pos, len(data))
    regex = stop_finder(start, end, relative, url_attrs, attrs, False)
    fast = stop_finder(start, end, relative, url_attrs, attrs, True)
    assert fast(lowered, pos) == regex(lowered, pos), (lowered, pos)


@native
@settings(max_examples=max(settings().max_examples * 4, 200))
@given(markup, st.integers(1, 64))
def test_the_rewriter_writes_the_same_page_either_way(data: bytes, chunk: int) -> None:
    """Blocking, slot filling and every tag's bookkeeping: same bytes out with either
    scanner, however upstream cuts the page."""
    page = b"<html><body><div data-slot=hero>old</div>" + data + b"</body></html>"
    outputs = []
    for native_scan in (False, True):
        stages = [PriorBlocking({}, HostIndex.build([])), SlotFill({"hero": "<b>new</b>"})]
        rewriter = HtmlRewriter(stages, native=native_scan)
        out = [rewriter.feed(page[i : i + chunk]) for i in range(0, len(page), chunk)]
        outputs.append(b"".join(out) + rewriter.close())
    assert outputs[0] == outputs[1]


@native
def test_the_native_scanner_refuses_bad_arguments_without_crashing() -> None:
    from gateway.html import _fastscan

    with pytest.raises(TypeError):
        _fastscan.Stops((b"",), None, (), (), (), ())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _fastscan.Stops(("script",), None, (), (), (), ())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _fastscan.skip("<a>", 0, 3, True, True)  # type: ignore[arg-type]
    stops = _fastscan.Stops((b"script",), None, (), (), (), ())
    with pytest.raises(TypeError):
        stops.__init__((b"script",), None, None, (), (), ())  # type: ignore[arg-type, misc]
    # Never initialised, or left half re-initialised: it answers "no stop", it does not crash.
    assert _fastscan.Stops.__new__(_fastscan.Stops).find(b"<script>", 0) == 8
    assert stops.find(b"x<script>", 0) in (1, 9)
    # Bounds past either end are clamped, as the regexes clamp them.
    assert _fastscan.skip(b"<a>b", -5, 99, True, True) == 4
    assert _fastscan.skip(b"<a>b", 9, 2, True, True) == 9
    assert stops.find(b"<script>", 50) == 8
