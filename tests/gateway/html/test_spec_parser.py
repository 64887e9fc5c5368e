"""The scanner against a spec-conforming parser (html5lib) on generated markup.

Documents mix SVG and MathML, breakout tags, integration points, raw text and RCDATA
elements, comments, CDATA sections and tags that load a tracker, each tracker with its own
URL. Every `img`, `script` and `iframe` html5lib builds in the HTML namespace from the page the
gateway sends on, with scripting on (as Chromium) and off (as a browser with JavaScript
disabled), must be a tag the scanner reported with that `src`: nothing loads unseen.
"""

from __future__ import annotations

import html5lib
from hypothesis import example, given
from hypothesis import strategies as st

from gateway.html import HtmlRewriter, Stage, StartTag

HTML_NS = "{http://www.w3.org/1999/xhtml}"
LOADING = frozenset({"img", "script", "iframe", "frame"})

_MARKUP = [
    "<svg>", "</svg>", "<math>", "</math>", "<svg/>", "<g>", "</g>",
    "<foreignObject>", "</foreignObject>", "<desc>", "</desc>", "<title>", "</title>",
    "<mi>", "</mi>", "<mtext>", "<mglyph>", "<annotation-xml encoding='text/html'>",
    "<annotation-xml>", "</annotation-xml>",
    "<style>", "</style>", "<script>", "</script>", "<textarea>", "</textarea>",
    "<xmp>", "</xmp>", "<noembed>", "</noembed>", "<noframes>", "</noframes>",
    "<noscript>", "</noscript>", "<plaintext>",
    "<![CDATA[", "]]>", "<!--", "-->", "--!>", "<!-->", "<!--->", "<?x", "</3", "<!x",
    "<div>", "</div>", "<p>", "</p>", "</br>", "<b>", "</b>", "<span>", "</span>",
    "<font color=red>", "<font>", "</font>", "<li>", "<ul>", "</ul>", "<h1>", "</h1>",
    "<table>", "</table>", "<tr>", "</tr>", "<td>", "</td>", "<caption>", "<select>",
    "</select>", "<option>", "<input>", "<template>", "</template>", "<a>", "</a>",
    "<button>", "<body>", "</body>", "<object>", "<frameset>",
    ">", '"', "'", "x", " ", "/",
]  # fmt: skip
_TRACKERS = [
    "<img src={}>",
    "<script src={}></script>",
    "<iframe src={}></iframe>",
    "<img/src={}>",
    "<IMG SRC={}>",
    "<image src={}>",
    "<img alt='</noscript>' src={}>",
    "<img alt='</style>' src={}>",
    "<frame src={}>",
]


#: Tags longer than the bound the oversized test gives the rewriter (`BOUND`): ones no stage
#: wants, wanted ones, raw text openers, and values that hold what looks like markup.
BOUND = 64
_PAD = "y" * (BOUND + 16)
_OVERSIZED = [
    f"<div title='{_PAD}'>", f"<div data-x=\"<!--{_PAD}\">", f"<div data-x='<img src=t {_PAD}'>",
    f"<img data-pad={_PAD} src={{}}>", f"<img src={{}} data-pad='{_PAD}'>",
    f"<script data-pad={_PAD} src={{}}></script>", f"<style data-pad='{_PAD}'>",
    f"<textarea data-pad={_PAD}>", f"<svg data-pad={_PAD}>", f"<noscript data-pad={_PAD}>",
    f"<!--{_PAD}", f"<p {_PAD}",
]  # fmt: skip


@st.composite
def documents(draw: st.DrawFn, extra: tuple[str, ...] = ()) -> str:
    parts: list[str] = []
    pieces = st.sampled_from(_MARKUP + _TRACKERS + list(extra))
    for i, piece in enumerate(draw(st.lists(pieces, max_size=25))):
        parts.append(piece.format(f"t{i}") if "{}" in piece else piece)
    return "".join(parts)


class Recorder(Stage):
    tags = LOADING

    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()

    def start_tag(self, tag: StartTag) -> None:
        self.seen.add((tag.name, tag.get("src") or ""))


def scanner_sees(
    doc: str, cut: int | None = None, **bounds: int
) -> tuple[set[tuple[str, str]], str]:
    """What the scanner reported, and the page it sent on (what the browser parses)."""
    recorder = Recorder()
    rewriter = HtmlRewriter([recorder], charset="utf-8", **bounds)
    raw = doc.encode("utf-8")
    step = cut or len(raw) or 1
    out = [rewriter.feed(raw[i : i + step]) for i in range(0, len(raw), step)]
    out.append(rewriter.close())
    return recorder.seen, b"".join(out).decode("utf-8")


def parser_builds(doc: str, scripting: bool) -> set[tuple[str, str]]:
    """Each element html5lib builds in the HTML namespace that loads something, with its src
    (empty when it has none: an inert copy loads nothing)."""
    tree = html5lib.HTMLParser(namespaceHTMLElements=True).parse(doc, scripting=scripting)
    found: set[tuple[str, str]] = set()
    for element in tree.iter():
        tag = element.tag
        if isinstance(tag, str) and tag.startswith(HTML_NS) and tag[len(HTML_NS) :] in LOADING:
            found.add((tag[len(HTML_NS) :], element.get("src") or ""))
    return found


@given(documents(), st.sampled_from([None, 1, 5]))
@example("<svg><style><img src=t1></style></svg>", None)  # not raw text in SVG
@example("<svg><![CDATA[><!--]]><img src=t2>-->", None)  # CDATA, not a bogus comment
@example("<svg><title><style><!--</style><img src=t3>-->", None)  # integration point
@example("<div><svg></div><style><!--</style><img src=t4>-->", None)  # end tag pops svg
@example("<math><mi><style><!--</style><img src=t5>", None)  # MathML text point
@example("<noscript><!--</noscript><img src=t6>-->", None)  # raw text with scripting on
# Table tags under an integration point pop the island in a table's insertion modes.
@example(
    "<table><tr><td><svg><foreignObject><tr></tr></foreignObject>"
    "<style><!--</style><img src=t7>-->",
    None,
)
# The `b` closed by `</p>` would be reopened inside foreignObject by the text.
@example("<svg><foreignObject><p><b></p>x</foreignObject><style><!--</style><img src=t12>-->", None)
# A second `a` runs the adoption agency on the first, which moves the div.
@example(
    "<svg><foreignObject><a><div><a></a></div></foreignObject><style><!--</style><img src=t13>-->",
    None,
)
# The adoption agency moves the div out from under the `a`.
@example("<svg><foreignObject><a><div></a></foreignObject><style><!--</style><img src=t8>-->", None)
# `</p>` breaks out of SVG today; html5lib (older) walks up and stays in SVG.
@example("<svg></p><style><img/src=t10>", None)
# In a frameset every start tag but frame, frameset and noframes is ignored.
@example("<frameset><style><frame src=t11></style>", None)
# Before customizable select, `<style>` in a select was ignored, not raw text.
@example("<select><style></select><img src=t9></style>", None)
def test_every_tracker_the_parser_builds_is_seen(doc: str, cut: int | None) -> None:
    seen, sent = scanner_sees(doc, cut)
    for scripting in (True, False):
        missing = parser_builds(sent, scripting) - seen
        assert not missing, f"scripting {scripting}: {sorted(missing)} not seen in {sent!r}"


@given(documents(tuple(_OVERSIZED)), st.sampled_from([None, 1, 7, 50]))
@example(f"<div data-x='<!--{_PAD}'><img src=t1><!-- -->", None)
@example(f"<style data-pad='{_PAD}'><!--</style><img src=t2>-->", 7)
@example(f"<img data-pad={_PAD} src=t3>", 1)
# Shrunk by the deep profile: a long `<style>` in a select went on as raw text for the scanner,
# while a select before customizable select ignores it and builds the img.
@example(f"<select><style data-pad='{_PAD}'><select><img src=t4>", 7)
def test_a_tag_past_the_bound_hides_no_tracker(doc: str, cut: int | None) -> None:
    """Tags longer than the rewriter holds (followed to their end, or made inert when a stage
    wants them): every tracker the parser builds with a URL was seen."""
    seen, sent = scanner_sees(doc, cut, max_pending=BOUND)
    for scripting in (True, False):
        built = {(name, src) for name, src in parser_builds(sent, scripting) if src}
        missing = built - seen
        assert not missing, f"scripting {scripting}: {sorted(missing)} not seen in {sent!r}"
