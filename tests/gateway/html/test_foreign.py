"""The SVG/MathML island: which namespace a tag lands in, and what the rewriter sends so that
the browser agrees (table-driven, after HTML §13.2.6.5 and the html5lib-tests trees)."""

from __future__ import annotations

import pytest

from gateway.html import HtmlRewriter, Stage, StartTag
from gateway.html.foreign import Island


class Pixels(Stage):
    tags = frozenset({"img", "script", "iframe"})

    def __init__(self) -> None:
        self.seen: list[str] = []

    def start_tag(self, tag: StartTag) -> None:
        self.seen.append(f"{tag.name}:{tag.get('src')}")


def rewrite(doc: bytes) -> tuple[list[str], bytes]:
    pixels = Pixels()
    rewriter = HtmlRewriter([pixels], charset="utf-8")
    out = rewriter.feed(doc) + rewriter.close()
    return pixels.seen, out


@pytest.mark.parametrize(
    ("doc", "seen"),
    [
        # §13.2.6.5: in SVG a <style> holds markup; the img in it breaks out and is real.
        (b"<svg><style><img src=a></style></svg>", ["img:a"]),
        # CDATA, not a bogus comment: the `<!--` inside it is text.
        (b"<svg><![CDATA[><!--]]><img src=a>-->", ["img:a"]),
        # In HTML content the same bytes are a bogus comment up to the first `>`.
        (b"<![CDATA[><!--]]><img src=a>-->", []),
        # An HTML integration point: <style> there is raw text.
        (b"<svg><desc><style><!--</style><img src=a>-->", ["img:a"]),
        (b"<math><mi><style><!--</style><img src=a>-->", ["img:a"]),
        (b"<math><annotation-xml encoding=TEXT/HTML><xmp><!--</xmp><img src=a>", ["img:a"]),
        # Not one without the encoding: <xmp> is a MathML element, `<!--` a comment.
        (b"<math><annotation-xml><xmp><!--</xmp><img src=a>-->", []),
        # `<font>` breaks out only with color, face or size.
        (b"<svg><font color=x><style><!--</style><img src=a>-->", ["img:a"]),
        (b"<svg><font><style><!--</style><img src=a>-->", []),
        # `</p>` breaks out too (and the img after `<!--` stays hidden from both).
        (b"<svg></p><style><!--</style><img src=a>-->", ["img:a"]),
        # mglyph in a MathML text integration point stays MathML.
        (b"<math><mi><mglyph><style><!--</style><img src=a>-->", []),
        # Raw text elements in SVG are not raw; `<script/src>` and uppercase still count.
        (b"<SVG><SCRIPT/SRC=x></SCRIPT></SVG><script/src=b></script>", ["script:x", "script:b"]),
        # NUL and non-ASCII in names: not script (§13.2.5.8 lowercases ASCII only).
        ("<scr\0ipt><img src=a></scr\0ipt><scrİpt><img src=b>".encode(), ["img:a", "img:b"]),
    ],
)
def test_the_scanner_reads_foreign_content_as_the_browser(doc: bytes, seen: list[str]) -> None:
    assert rewrite(doc)[0] == seen


@pytest.mark.parametrize(
    ("doc", "sent"),
    [
        # A stray end tag: whether the browser leaves SVG depends on the elements outside.
        (b"<div><svg><g></div>", b"<div><svg><g></g></svg></div>"),
        # `</p>` pops the SVG elements first (older parsers would walk up and stay).
        (b"<svg><g></p>", b"<svg><g></g></svg></p>"),
        # Table tags under an integration point, CDATA right on one: text.
        (b"<svg><desc><tr>", b"<svg><desc>&lt;tr>"),
        (b"<svg><desc><![CDATA[x]]>", b"<svg><desc>&lt;![CDATA[x]]>"),
        # An implied end closes a formatting element: its end tag goes first.
        (b"<svg><desc><p><b></p>", b"<svg><desc><p><b></b></p>"),
        # Matching end tags change nothing.
        (b"<svg><g></g></svg><math><mi></mi></math>", b"<svg><g></g></svg><math><mi></mi></math>"),
        # noscript: a `</noscript` in a comment would end it for a scripting browser.
        (b"<noscript><!--</noscript>-->", b"<noscript><!--&lt;/noscript>-->"),
        (
            b"<noscript><img alt='</noscript>'></noscript>",
            b"<noscript><img alt='&lt;/noscript>'></noscript>",
        ),
        # select and frameset.
        (b"<select><style></select>", b"<select>&lt;style></select>"),
        (b"<frameset><script></frameset>", b"<frameset>&lt;script></frameset>"),
    ],
)
def test_what_is_sent_reads_one_way_only(doc: bytes, sent: bytes) -> None:
    assert rewrite(doc)[1] == sent


def test_the_island_stack() -> None:
    island = Island("svg")
    assert not island.start("foreignobject", dict, False)
    assert island.start("div", dict, False)
    assert island.end("foreignobject") == []  # the div is special: ignored
    assert island.names == ("svg", "foreignobject", "div")
    assert island.end("div") == []
    assert island.end("foreignobject") == []
    assert island.names == ("svg",)
    assert island.cdata == "cdata"
    assert island.end("svg") == []
    assert not island.open
