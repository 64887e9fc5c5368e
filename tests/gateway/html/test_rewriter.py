"""The streaming core: byte identity, chunking invariance, the stage API, bounded buffering."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from gateway.html import ALL, DocumentEnd, EndTag, HtmlRewriter, SlotFill, Stage, StartTag


def run(doc: bytes, stages: Sequence[Stage] = (), cuts: Sequence[int] = (), **kw: object) -> bytes:
    """Feed `doc` split at `cuts`; return the whole output."""
    r = HtmlRewriter(stages, **kw)  # type: ignore[arg-type]
    out = []
    last = 0
    for cut in sorted({c for c in cuts if 0 < c < len(doc)}) + [len(doc)]:
        out.append(r.feed(doc[last:cut]))
        last = cut
    out.append(r.close())
    return b"".join(out)


class Observer(Stage):
    """Sees every tag, reads everything, changes nothing."""

    tags = frozenset({ALL})
    end_tags = frozenset({ALL})
    attributes = frozenset({"data-slot", "data-consent"})

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, tuple[tuple[str, str], ...]]] = []

    def start_tag(self, tag: StartTag) -> None:
        tag.get("data-slot")
        self.seen.append(("start", tag.name, tag.attributes))

    def end_tag(self, tag: EndTag) -> None:
        self.seen.append(("end", tag.name, ()))

    def end_document(self, doc: DocumentEnd) -> None:
        self.seen.append(("eof", "", ()))


class AttrObserver(Stage):
    """Only wants `data-slot` carriers: exercises the skip pattern's attribute lookahead."""

    attributes = frozenset({"data-slot"})

    def __init__(self) -> None:
        self.seen: list[tuple[str, tuple[tuple[str, str], ...]]] = []

    def start_tag(self, tag: StartTag) -> None:
        self.seen.append((tag.name, tag.attributes))


# -- random HTML, deliberately nasty ------------------------------------------------------

_names = st.sampled_from(
    "div DIV span p a img br script SCRIPT style textarea title iframe noscript xmp svg math "
    "path foreignObject section li td x-widget h1".split()
)
_junk = st.binary(max_size=8) | st.sampled_from(
    [b"\xff\xfe", b"\x80\x81", b"\xc3\x28", b"&amp;", b"&#1575;", b"<", b">", b"\x00"]
)
_attr_value = st.one_of(
    st.sampled_from([b"a", b"hero", b"a>b", b"x y", b"'", b'"', b"</div>", b"\xe9\xff"]),
    st.binary(max_size=6),
)
_attr_name = st.sampled_from(
    [b"data-slot", b"DATA-SLOT", b"data-consent", b"class", b"src", b"=", b'a"b', b"x/", b"id"]
)


@st.composite
def _attribute(draw: st.DrawFn) -> bytes:
    name = draw(_attr_name)
    value = draw(_attr_value)
    form = draw(st.integers(0, 4))
    if form == 0:
        return name
    if form == 1:
        return name + b'="' + value.replace(b'"', b"") + b'"'
    if form == 2:
        return name + b"='" + value.replace(b"'", b"") + b"'"
    if form == 3:
        return name + b" = " + (value.replace(b" ", b"").replace(b">", b"") or b"v")
    return name + b"=" + value  # anything goes, even broken


@st.composite
def _start_tag(draw: st.DrawFn) -> bytes:
    name = draw(_names).encode()
    attrs = draw(st.lists(_attribute(), max_size=3))
    seps = draw(st.lists(st.sampled_from([b" ", b"\n", b"/", b"  \t"]), min_size=3, max_size=3))
    body = b"".join(seps[i % 3] + a for i, a in enumerate(attrs))
    end = draw(st.sampled_from([b">", b"/>", b" >", b""]))  # "" leaves it unterminated
    return b"<" + name + body + end


_fragment = st.one_of(
    st.binary(max_size=20),
    _junk,
    _start_tag(),
    _names.map(lambda n: b"</" + n.encode() + b">"),
    st.sampled_from(
        [
            b"<!--",
            b"-->",
            b"--!>",
            b"<!-->",
            b"<!--->",
            b"<!-- <div data-slot=c> -->",
            b"<!DOCTYPE html>",
            b"<!x>",
            b"<?php ?>",
            b"</1>",
            b"</>",
            b"</ div>",
            b"<",
            b"<script>",
            b"</script>",
            b"</script ",
            b"<!--<script>",
            b"</scrip",
            b"</SCRIPT>",
            b"<style>a>b{}</style>",
            b"<textarea><div data-slot=t></textarea>",
            b"<title></title ></title>",
            b"<svg><style/>",
            b"</svg>",
            b"<plaintext>",
            b'<a title="<div data-slot=q>">',
            b"<div data-slot='x'>",
            b"</div>",
        ]
    ),
)
# A UTF-16 byte-order mark makes the page transcoded to UTF-8 (test_charset.py), which is a
# change by design; these properties are about pages read as they are.
_documents = (
    st.lists(_fragment, max_size=30)
    .map(b"".join)
    .filter(lambda doc: not doc.startswith((b"\xff\xfe", b"\xfe\xff")))
)
_cuts = st.lists(st.integers(0, 400), max_size=12)


# -- properties ---------------------------------------------------------------------------


@given(_documents, _cuts)
@example(b'<div title="a>b" data-slot=x>', [12])  # `>` inside quotes, cut inside the tag
@example(b"<script><!--<script></script>x</script>", [3, 20])  # double-escaped script
@example(b"<svg></div>", [])  # a closer inserted before an end tag that starts the same way
def test_no_stage_output_is_the_input(doc: bytes, cuts: list[int]) -> None:
    # Up to the end tags that close an SVG/MathML island before a stray end tag (foreign.py):
    # that makes the browser read the rest as the scanner does.
    out = run(doc, (), cuts, charset="utf-8")
    assert out == doc or _is_doc_plus_closers(out, doc)


_ISLAND_CLOSER = re.compile(rb"</[a-z][a-z-]*>")


def _is_doc_plus_closers(out: bytes, doc: bytes) -> bool:
    i = j = 0
    while j < len(out):
        # An inserted closer first, unless the document has the same end tag here: matching
        # byte by byte would otherwise take `</` of `</svg></div>` for the `</` of `</div>`.
        m = _ISLAND_CLOSER.match(out, j)
        if m is not None and not doc.startswith(m.group(), i):
            j = m.end()
            continue
        if i < len(doc) and out[j] == doc[i]:
            i, j = i + 1, j + 1
            continue
        return False
    return i == len(doc)


@given(_documents, _cuts)
def test_observing_stages_change_nothing_and_see_the_same_tags_however_cut(
    doc: bytes, cuts: list[int]
) -> None:
    whole, split = Observer(), Observer()
    attr_whole, attr_split = AttrObserver(), AttrObserver()
    plain = run(doc, ())
    assert run(doc, [whole, attr_whole]) == plain
    assert run(doc, [split, attr_split], cuts) == plain
    assert split.seen == whole.seen
    assert attr_split.seen == attr_whole.seen


@given(_documents, _cuts)
def test_raw_text_readers_see_the_same_text_however_cut(doc: bytes, cuts: list[int]) -> None:
    whole, split = StyleReader(), StyleReader()
    assert run(doc, [whole], cuts=(), charset="utf-8") == run(doc, [split], cuts, charset="utf-8")
    assert split.texts == whole.texts


@given(_documents, _cuts)
def test_slot_fill_output_does_not_depend_on_chunking(doc: bytes, cuts: list[int]) -> None:
    fill = {"x": "<b>X</b>", "a": "é", "c": "C"}
    assert run(doc, [SlotFill(fill)], cuts) == run(doc, [SlotFill(fill)])


@given(st.binary(max_size=300), _cuts)
def test_arbitrary_bytes_pass_through(doc: bytes, cuts: list[int]) -> None:
    # A UTF-16 BOM decides the encoding, and such a page leaves as UTF-8 (test_charset).
    assume(not doc.startswith((b"\xfe\xff", b"\xff\xfe")))
    out = run(doc, [Observer()], cuts)
    assert out == doc or _is_doc_plus_closers(out, doc)


# -- tokenizer edge cases, as the observer sees them -----------------------------------------


def observed(doc: bytes) -> list[tuple[str, str, tuple[tuple[str, str], ...]]]:
    seen = Observer()
    assert run(doc, [seen], charset="utf-8") == doc
    return [s for s in seen.seen if s[0] != "eof"]


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        # HTML §13.2.5.36: `>` inside a quoted value does not end the tag.
        (b'<a title="x>y" b>', [("start", "a", (("title", "x>y"), ("b", "")))]),
        # Unquoted values end at whitespace or `>`; quotes inside them are literal.
        (b"<a b=x\"y c='z'>", [("start", "a", (("b", 'x"y'), ("c", "z")))]),
        # §13.2.5.32: `=` may start an attribute name; a `/` between attributes separates.
        (b"<a =b c/d>", [("start", "a", (("=b", ""), ("c", ""), ("d", "")))]),
        # Uppercase names are lowercased; the first of repeated attributes wins.
        (b"<DIV ID=1 id=2></DIV>", [("start", "div", (("id", "1"),)), ("end", "div", ())]),
        # Character references in values are resolved.
        (b'<a href="?a=1&amp;b=&#233;">', [("start", "a", (("href", "?a=1&b=é"),))]),
        # An empty value right before `>`.
        (b"<a b=>", [("start", "a", (("b", ""),))]),
        # Comments, doctype, bogus comments hide what looks like tags.
        (b"<!DOCTYPE html><!-- <b> --><!x <i>><?p <u>></1 <s>></>", []),
        # Abrupt comment ends.
        (b"<!--><b><!---><i>", [("start", "b", ()), ("start", "i", ())]),
        # `--!>` ends a comment; `<!--!>` does not.
        (b"<!-- x --!><b><!--!><i>-->", [("start", "b", ())]),
        # Raw text: only the matching end tag ends it.
        (
            b"<style><b></styles></style><i>",
            [("start", "style", ()), ("end", "style", ()), ("start", "i", ())],
        ),
        (
            b"<textarea></TEXTAREA ><b>",
            [("start", "textarea", ()), ("end", "textarea", ()), ("start", "b", ())],
        ),
        # §13.2.5.20-31: in an escaped script a nested <script> double-escapes, so the first
        # </script> does not end it.
        (
            b"<script><!--<script></script><b></script><i>",
            [("start", "script", ()), ("end", "script", ()), ("start", "i", ())],
        ),
        (
            b"<script><!--></script><i>",
            [("start", "script", ()), ("end", "script", ()), ("start", "i", ())],
        ),
        # Foreign content: svg's <style/> is empty, not raw text; </svg> ends foreign content.
        (
            b"<svg><style/><b>x</b></svg><style><i></style>",
            [
                ("start", "svg", ()),
                ("start", "style", ()),
                ("start", "b", ()),
                ("end", "b", ()),
                ("end", "svg", ()),
                ("start", "style", ()),
                ("end", "style", ()),
            ],
        ),
        # A breakout tag leaves an unclosed svg.
        (
            b"<svg><p><title><b></title>",
            [
                ("start", "svg", ()),
                ("start", "p", ()),
                ("start", "title", ()),
                ("end", "title", ()),
            ],
        ),
        # <plaintext> swallows the rest.
        (b"<plaintext></plaintext><b>", [("start", "plaintext", ())]),
        # `<` not followed by a letter, `!`, `/` or `?` is text; EOF inside a tag is text.
        (b"a < b <3 <a href='x", []),
    ],
)
def test_tokenizer_edge_cases(
    doc: bytes, expected: list[tuple[str, str, tuple[tuple[str, str], ...]]]
) -> None:
    assert observed(doc) == expected


# -- streaming and memory bounds -------------------------------------------------------------


def test_first_bytes_leave_before_the_page_ends() -> None:
    r = HtmlRewriter([SlotFill({"s": "X"})], charset="utf-8")
    assert r.feed(b"<html><head><title>t</title></head><body><p>hello") == (
        b"<html><head><title>t</title></head><body><p>hello"
    )
    assert r.feed(b' <div data-slot="s">old') == b' <div data-slot="s">X'
    assert r.feed(b"</div><p>tail") == b"</div><p>tail"
    assert r.close() == b""


def test_without_header_charset_waits_for_the_prescan_window_only() -> None:
    r = HtmlRewriter([])
    assert r.feed(b"<p>short") == b""  # the <meta> prescan needs 1024 bytes or EOF
    body = b"x" * 2000
    assert r.feed(body) == b"<p>short" + body
    assert r.close() == b""


def test_a_tag_cut_by_a_chunk_is_held_back_then_released() -> None:
    r = HtmlRewriter([Observer()], charset="utf-8")
    assert r.feed(b"abc<div class='a") == b"abc"
    assert r.feed(b"b'>def") == b"<div class='ab'>def"


def test_pending_partial_tag_is_bounded() -> None:
    # Past the bound a tag nobody wants flows on unheld, followed to its `>`: what comes after
    # it is read as the browser reads it (the `<img>` inside the value is no tag).
    observer = Observer()
    observer.tags = frozenset({"img"})
    r = HtmlRewriter([observer], charset="utf-8", max_pending=1024)
    assert r.feed(b"<div title='" + b"y" * 500) == b""
    out = r.feed(b"y" * 1000 + b"<img src=x>")
    assert out == b"<div title='" + b"y" * 1500 + b"<img src=x>"
    assert r.feed(b"'><img src=real>") == b"'><img src=real>"
    assert r.close() == b""
    assert [(n, a) for _, n, a in observer.seen if n] == [("img", (("src", "real"),))]


def test_a_wanted_tag_past_the_bound_is_replaced_by_an_inert_copy() -> None:
    # It cannot be read whole, so nothing in it may load: its attributes are dropped.
    r = HtmlRewriter([Observer()], charset="utf-8", max_pending=1024)
    assert r.feed(b"<script src='https://t.example/x.js' data-x='" + b"y" * 500) == b""
    out = r.feed(b"y" * 1000) + r.feed(b"'>run()</script><p>")
    assert out == b'<script type="text/plain" data-consentgate="oversized">run()</script><p>'


@pytest.mark.parametrize(
    ("opener", "name"),
    [(b"<select>", b"style"), (b"<frameset>", b"svg")],  # read differently after these
)
def test_an_ambiguous_start_tag_past_the_bound_goes_as_text(opener: bytes, name: bytes) -> None:
    # As any such tag: parsers read it differently, so it says one thing to all of them.
    r = HtmlRewriter([Observer()], charset="utf-8", max_pending=1024)
    out = r.feed(opener + b"<" + name + b" data-pad='" + b"y" * 1100)
    out += r.feed(b"'><img src=x>") + r.close()
    assert out == opener + b"&lt;" + name + b" data-pad='" + b"y" * 1100 + b"'><img src=x>"


def test_raw_text_holds_back_only_a_possible_end_tag_prefix() -> None:
    r = HtmlRewriter([], charset="utf-8")
    assert r.feed(b"<style>a{} b>c{}") == b"<style>a{} b>c{}"
    assert r.feed(b"</sty") == b""
    assert r.feed(b"le><p>") == b"</style><p>"
    # Script data keeps at most 8 bytes (`</script` minus its delimiter) back.
    assert r.feed(b"<script>var a = 1;</scr") == b"<script>var a ="
    assert r.feed(b"ipt><p>") == b" 1;</script><p>"


def test_feed_after_close_is_an_error() -> None:
    r = HtmlRewriter([], charset="utf-8")
    r.close()
    with pytest.raises(RuntimeError):
        r.feed(b"x")
    assert r.close() == b""


# -- the stage API ----------------------------------------------------------------------------


class Blocker(Stage):
    """What prior blocking will do: neutralize iframes, mark scripts, wrap the body."""

    tags = frozenset({"iframe", "script"})
    end_tags = frozenset({"body", "head"})

    def start_tag(self, tag: StartTag) -> None:
        if tag.name == "iframe":
            tag.set_attribute("data-src", tag.get("src") or "")
            tag.remove_attribute("src")
        elif tag.get("data-consent") == "ads":
            tag.replace('<script type="text/plain" data-consent="ads">')
            tag.insert_before("<!--b-->")
            tag.insert_after("/*a*/")

    def end_tag(self, tag: EndTag) -> None:
        if tag.name == "head":
            tag.insert_before("<meta name=x>")
        else:
            tag.insert_after("<!--after body-->")

    def end_document(self, doc: DocumentEnd) -> None:
        doc.append("<!--eof-->")


def test_stage_can_rewrite_replace_and_insert() -> None:
    doc = (
        b'<head><script data-consent=ads src="t.js"></script></head>'
        b"<body><IFRAME src='https://x/?a=1&amp;b=\"2\"' width=1></iframe></body>"
    )
    assert run(doc, [Blocker()], [5, 30, 77]) == (
        b'<head><!--b--><script type="text/plain" data-consent="ads">/*a*/</script>'
        b"<meta name=x></head>"
        b'<body><iframe width="1" data-src="https://x/?a=1&amp;b=&quot;2&quot;"></iframe>'
        b"</body><!--after body--><!--eof-->"
    )


def test_stages_run_in_order_and_see_earlier_changes() -> None:
    calls: list[str] = []

    class First(Stage):
        attributes = frozenset({"data-slot"})

        def start_tag(self, tag: StartTag) -> None:
            calls.append("first")
            tag.set_attribute("data-seen", "1")

    class Second(Stage):
        tags = frozenset({"div"})

        def start_tag(self, tag: StartTag) -> None:
            calls.append(f"second:{tag.get('data-seen')}")

    assert run(b"<div data-slot=a>", [First(), Second()]) == b'<div data-slot="a" data-seen="1">'
    assert calls == ["first", "second:1"]


def test_self_closing_is_kept_when_reserialized() -> None:
    flags: list[bool] = []

    class Mark(Stage):
        tags = frozenset({"img"})

        def start_tag(self, tag: StartTag) -> None:
            flags.append(tag.self_closing)
            tag.set_attribute("loading", "lazy")

    # `a/` is an unquoted value (HTML §13.2.5.38), so only the second tag is self-closing.
    assert run(b"<img src=a/><img src=x />", [Mark()]) == (
        b'<img src="a/" loading="lazy"><img src="x" loading="lazy"/>'
    )
    assert flags == [False, True]


class EveryTag(Observer):
    """The reference: every tag seen, so the rewriter searches for nothing."""

    attributes = frozenset()


class NamedObserver(Stage):
    """Wants a few names only: the rewriter finds them by searching, not by reading every tag."""

    tags = frozenset({"a", "img", "p", "br", "x-widget"})
    end_tags = frozenset({"div", "p"})
    attributes = frozenset({"data-slot"})

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, tuple[tuple[str, str], ...]]] = []

    def start_tag(self, tag: StartTag) -> None:
        self.seen.append(("start", tag.name, tag.attributes))

    def end_tag(self, tag: EndTag) -> None:
        self.seen.append(("end", tag.name, ()))


@given(_documents, _cuts)
@example(b"data-slot<p>x</p><a title='<br>'>", [])  # an attribute name in text, a tag in a value
@example(b"<svg><style/></div>", [])  # the stray end tag is preceded by the island's closer
def test_searching_for_named_tags_finds_what_reading_every_tag_finds(
    doc: bytes, cuts: list[int]
) -> None:
    every, named = EveryTag(), NamedObserver()
    # Stages change no byte: what leaves is the stage-less rewrite (the same page, but for
    # ambiguous markup made to say one thing, as `<svg><style/></div>` gets a `</svg>`).
    plain = run(doc, [])
    assert run(doc, [every]) == plain
    assert run(doc, [named], cuts) == plain
    wanted = [
        s
        for s in every.seen
        if (s[0] == "start" and (s[1] in named.tags or any(k == "data-slot" for k, _ in s[2])))
        or (s[0] == "end" and s[1] in named.end_tags)
    ]
    assert named.seen == wanted


# --- stages that read raw text (`Stage.raw_text_of`) -------------------------------------------


class StyleReader(Stage):
    """Reads every `<style>`'s text; upper-cases the ones that say so."""

    raw_text_of = frozenset({"style"})

    def __init__(self) -> None:
        self.texts: list[str] = []

    def raw_text(self, name: str, text: str) -> str | None:
        self.texts.append(text)
        return text.upper() if "shout" in text else None


@pytest.mark.parametrize(
    ("doc", "expected", "texts"),
    [
        (b"<style>a{}</style>x", None, ["a{}"]),
        (b"<style>shout</style><p>", b"<style>SHOUT</style><p>", ["shout"]),
        (b"<style></style>", None, [""]),
        (b"<style>shout", b"<style>SHOUT", ["shout"]),  # the end of the page ends it
        # HTML §13.2.5.14: an end tag cut by the end of the page is text.
        (b"<style>shout</style", b"<style>SHOUT</STYLE", ["shout</style"]),
        (b"<style>a</styles></style>", None, ["a</styles>"]),
        (b"<svg><style>shout</style></svg>", None, []),  # SVG content is markup here
        (b"<script>shout</script><textarea>shout</textarea>", None, []),
        (
            b"<style>\xff shout \xfe</style>",
            b"<style>\xff SHOUT \xfe</style>",
            ["\udcff shout \udcfe"],
        ),
    ],
)
def test_raw_text_reader_sees_the_whole_text_however_cut(
    doc: bytes, expected: bytes | None, texts: list[str]
) -> None:
    for cuts in [[], *([c] for c in range(1, len(doc))), list(range(1, len(doc)))]:
        reader = StyleReader()
        assert run(doc, [reader], cuts, charset="utf-8") == (doc if expected is None else expected)
        assert reader.texts == texts, cuts


def test_raw_text_past_the_bound_is_dropped_unread() -> None:
    reader = StyleReader()
    doc = b"<style>" + b"a" * 300 + b"</style><p>kept"
    out = run(doc, [reader], range(0, len(doc), 7), charset="utf-8", max_slot_bytes=100)
    assert out == b"<style>/* consentgate: too large to check, dropped */</style><p>kept"
    assert reader.texts == []
