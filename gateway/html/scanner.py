"""Byte-level HTML token grammar: the regexes the streaming rewriter runs.

The patterns follow the WHATWG tokenizer (HTML Living Standard §13.2.5) closely enough that
tag boundaries are exact: quotes only count in attribute-value position, `=` may start an
attribute name, `/` between attributes is a separator, and comments end at `-->`, `--!>` or
abruptly at `<!-->` / `<!--->`. They work on bytes, so they hold for every charset in which
the ASCII bytes `<>/="'` and whitespace only ever mean themselves (see `charset.py`).

Every repetition is possessive: on a truncated buffer a pattern fails in linear time instead
of backtracking into a different (wrong) parse.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable
from functools import lru_cache

try:
    from gateway.html import _fastscan
except ImportError:  # pragma: no cover - the C extension did not build: the regexes serve
    _fastscan = None  # type: ignore[assignment]

#: True when the native twins of `skip_pattern` and `stop_pattern` (`_fastscan.c`) are built.
#: They give the same positions (tests/gateway/html/test_fastscan.py); the two calls took ~8x
#: less time in the bench profile, the whole rewrite of the 60 KB bench page ~3x (RESULTS.md).
NATIVE = _fastscan is not None

#: `(buf, pos, endpos) -> end of the plain-markup run at pos` (see `skipper`).
Skip = Callable[[bytes, int, int], int]
#: `(lowered, pos) -> where the next stop starts, len(lowered) for none` (see `stop_finder`).
FindStop = Callable[[bytes, int], int]

# HTML §13.2.5: ASCII whitespace is TAB, LF, FF, CR, SPACE.
_WS = rb"\t\n\f\r "

# One attribute, exactly per the tokenizer: a name (which may start with `=`), then either a
# value after `=` (double-quoted, single-quoted, unquoted, or empty right before `>`), or no `=`.
# The value is mandatory once `=` is seen, so a value cut by the buffer end fails the whole tag.
_ATTR = (
    rb"[^" + _WS + rb"/>][^" + _WS + rb"/>=]*+"
    rb"(?:[" + _WS + rb"]*+=[" + _WS + rb"]*+"
    rb"(?:\"[^\"]*+\"|'[^']*+'|[^" + _WS + rb">\"'][^" + _WS + rb">]*+|(?=>))"
    rb"|(?![" + _WS + rb"]*+=))"
)
_SEP = rb"[" + _WS + rb"/]++"
_NAME = rb"[A-Za-z][^" + _WS + rb"/>]*+"

#: A complete start or end tag at the match position; group 4 is None when the buffer ends
#: inside the tag.
TAG = re.compile(
    rb"<(/?)(" + _NAME + rb")((?:" + _SEP + rb"|" + _ATTR + rb")*+)(>)?",
)

# Attributes inside the attribute region of a complete tag (no `>` in the region, so an empty
# value can only sit at the region's end).
_ATTR_PARTS = re.compile(
    rb"([^" + _WS + rb"/>][^" + _WS + rb"/>=]*+)"
    rb"(?:[" + _WS + rb"]*+=[" + _WS + rb"]*+"
    rb"(?:\"([^\"]*+)\"|'([^']*+)'|([^" + _WS + rb">\"'][^" + _WS + rb">]*+)|()))?"
)

#: Where a comment opened by `<!--` ends (searched from 4 bytes after `<`), `--!>` included.
COMMENT_END = re.compile(rb"--!?>")

#: Elements whose content the tokenizer does not parse as markup (HTML §13.2.6.4.7).
#: `noscript` is left out on purpose: with scripting disabled a browser parses its content as
#: markup (and loads a `<noscript><img src=pixel>`), and the banner must work with JavaScript
#: off, so its tags are scanned; rewriting them is harmless where scripting is on (text there).
RAW_TEXT = frozenset(
    {"script", "style", "xmp", "iframe", "noembed", "noframes", "textarea", "title"}
)
PLAINTEXT = "plaintext"

#: HTML §13.1.2: elements that never have content or an end tag.
VOID = frozenset(
    {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
        "source", "track", "wbr",
    }
)  # fmt: skip

#: HTML §13.2.6.5: start tags that break out of SVG/MathML foreign content.
FOREIGN_BREAKOUT = frozenset(
    """b big blockquote body br center code dd div dl dt em embed h1 h2 h3 h4 h5 h6 head hr
    i img li listing menu meta nobr ol p pre ruby s small span strong strike sub sup table
    tt u ul var""".split()
)
FOREIGN_ROOTS = frozenset({"svg", "math"})

#: HTML §13.2.6.4.7 ("in body", start tags that close a `p` element in button scope).
P_CLOSERS = frozenset(
    """address article aside blockquote center details dialog dir div dl fieldset
    figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr listing main menu nav ol
    p plaintext pre search section summary table ul xmp""".split()
)


@lru_cache(maxsize=4096)
def raw_text_end(name: bytes) -> re.Pattern[bytes]:
    """Pattern finding the end tag that closes raw-text element `name` (`</name` + delimiter)."""
    return re.compile(rb"</" + re.escape(name) + rb"[" + _WS + rb"/>]", re.IGNORECASE)


# HTML §13.2.5.4-§13.2.5.31: script data with its escaped and double-escaped states. The
# rewriter walks these three patterns; see `HtmlRewriter._script`.
_SCRIPT_END = rb"</script[" + _WS + rb"/>]"
SCRIPT_DATA = re.compile(rb"<!--|" + _SCRIPT_END, re.IGNORECASE)
SCRIPT_ESCAPED = re.compile(rb"-->|" + _SCRIPT_END + rb"|<script[" + _WS + rb"/>]", re.IGNORECASE)
SCRIPT_DOUBLE = re.compile(rb"-->|" + _SCRIPT_END, re.IGNORECASE)


def _words(names: Iterable[str]) -> list[bytes]:
    """Names as sorted, distinct, lowercase ASCII bytes (what the tries are built from)."""
    return sorted({n.lower().encode("ascii", "ignore") for n in names} - {b""})


def _trie(words: list[bytes]) -> bytes:
    """Alternation of `words` factored by prefix (`s(?:cript|tyle|vg)`): fewer retries."""
    rest = [w for w in words if w]
    if len(rest) < len(words):
        return b"(?:" + _trie(rest) + b")?" if rest else b""
    groups: dict[bytes, list[bytes]] = {}
    for word in rest:
        groups.setdefault(word[:1], []).append(word[1:])
    alts = [re.escape(head) + _trie(tails) for head, tails in sorted(groups.items())]
    return alts[0] if len(alts) == 1 else b"(?:" + b"|".join(alts) + b")"


def _not(names: Iterable[str], delimiters: bytes) -> bytes:
    """Negative lookahead refusing any of `names` followed by whitespace or `delimiters`."""
    words = _words(names)
    return rb"(?!" + _trie(words) + rb"[" + _WS + delimiters + rb"])" if words else b""


# A URL value that can only resolve against the page's own base URL: no scheme (no `:`), no
# `//` or `/\\` (so not scheme-relative), and none of the bytes a browser strips, removes or
# decodes before parsing (whitespace, controls, `\\`, `&` character references). Anything
# else, non-ASCII included, is left to the stage to read.
_REL = rb"(?![/\\]{2})[A-Za-z0-9_.~!$()*+;=@%/?#\-]"
_SAME_ORIGIN = _REL + rb"*+"
# A srcset (HTML §4.8.4.3.11): URLs and descriptors (`2x`, `300w`) separated by whitespace
# and commas; unquoted, it cannot hold whitespace.
_SAME_ORIGIN_LIST = rb"(?:[" + _WS + rb",]|" + _REL + rb")*+"
_SAME_ORIGIN_LIST_UNQUOTED = rb"(?:,|" + _REL + rb")*+"


def _value(quoted: bytes, unquoted: bytes) -> bytes:
    """A whole attribute value: double- or single-quoted `quoted`, or `unquoted`."""
    return rb"(?:\"" + quoted + rb"\"|'" + quoted + rb"'|" + unquoted + rb"(?=[" + _WS + rb">]))"


@lru_cache(maxsize=256)
def skip_pattern(
    start_names: frozenset[str] | None,
    end_names: frozenset[str] | None,
    attr_names: frozenset[str],
    relative_names: frozenset[str] = frozenset(),
    url_attr_names: frozenset[str] = frozenset(),
) -> re.Pattern[bytes]:
    """Pattern that consumes a run of bytes nobody needs to look at.

    It stops at the first interesting thing: a start tag named in `start_names` (None: every
    start tag) or carrying an attribute in `attr_names`, an end tag named in `end_names`
    (None: every end tag), or markup that the buffer cuts off. Text, comments, doctypes and
    all other tags go by in one C-level match.

    A start tag named in `relative_names` goes by too when each of its `url_attr_names`
    attributes is valueless or holds a same-origin relative URL (`/img/p1.jpg`, `a.css?v=3`;
    names ending in `srcset` hold a srcset list of them): the common `<img>`/`<link>` of a
    shop's own assets never reaches Python.
    """
    alts = [rb"[^<]++"]
    if start_names is not None:
        not_name = _not(start_names | relative_names, rb"/>")
        not_attr = _not(attr_names, rb"/>=")
        alts.append(rb"<" + not_name + _NAME + rb"(?:" + _SEP + rb"|" + not_attr + _ATTR + rb")*+>")
        if relative_names:
            alts.append(_relative_tag(relative_names, url_attr_names, attr_names))
    if end_names is not None:
        not_name = _not(end_names, rb"/>")
        alts.append(rb"</" + not_name + _NAME + rb"(?:" + _SEP + rb"|" + _ATTR + rb")*+>")
    alts += [
        rb"<!--(?:>|->|(?s:.*?)--!?>)",  # comment, including the abrupt `<!-->` and `<!--->`
        rb"<(?=[^!/?A-Za-z])",  # a `<` that starts no markup is text
        rb"<!(?!--)[^>]*+>",  # doctype and bogus comments
        rb"<\?[^>]*+>",  # processing-instruction-like bogus comment
        rb"</(?:>|(?=[^>A-Za-z])[^>]*+>)",  # `</>` is dropped; `</1..>` is a bogus comment
    ]
    return re.compile(rb"(?:" + rb"|".join(alts) + rb")*+", re.IGNORECASE)


def _relative_tag(
    relative_names: frozenset[str], url_attr_names: frozenset[str], attr_names: frozenset[str]
) -> bytes:
    """A complete start tag named in `relative_names` whose `url_attr_names` attributes are
    all same-origin relative URLs (or valueless), carrying none of `attr_names`."""
    words = _words(relative_names)
    is_name = rb"(?=" + _trie(words) + rb"[" + _WS + rb"/>])"
    not_attr = _not(attr_names, rb"/>=")
    url_attrs = [
        _url_attribute(names, value)
        for names, value in (
            (
                {n for n in url_attr_names if not n.endswith("srcset")},
                _value(_SAME_ORIGIN, _SAME_ORIGIN),
            ),
            (
                {n for n in url_attr_names if n.endswith("srcset")},
                _value(_SAME_ORIGIN_LIST, _SAME_ORIGIN_LIST_UNQUOTED),
            ),
        )
        if names
    ]
    other = not_attr + _not(url_attr_names, rb"/>=") + _ATTR
    return (
        rb"<"
        + is_name
        + _NAME
        + rb"(?:"
        + _SEP
        + rb"|"
        + b"".join(not_attr + u + rb"|" for u in url_attrs)
        + other
        + rb")*+>"
    )


@lru_cache(maxsize=256)
def stop_pattern(
    start_names: frozenset[str] | None,
    end_names: frozenset[str] | None,
    relative_names: frozenset[str] = frozenset(),
    url_attr_names: frozenset[str] = frozenset(),
    attr_names: frozenset[str] = frozenset(),
) -> re.Pattern[bytes]:
    """Where the next tag that may interest someone starts, searched in the buffer lowercased.

    The same stops as `skip_pattern`'s, found by a search instead of by matching every tag on
    the way (what stops the search between them is `skip_pattern` with no names at all, which
    also refuses to run past a tag that holds the stop). A match may sit where no tag is (in
    text, a comment, an attribute value): the rewriter then reads the markup it is in.
    Attribute names (`attr_names`) are not in it: the rewriter finds those with `bytes.find`.
    """
    alts: list[bytes] = []
    after = rb"(?=[" + _WS + rb"/>])"
    if start_names is None:
        alts.append(rb"<[a-z]")
    else:
        words = _words(start_names)
        if words:
            alts.append(rb"<" + _trie(words) + after)
        if relative_names:
            relative = _relative_tag(relative_names, url_attr_names, attr_names)
            words = _words(relative_names)
            alts.append(rb"<(?=" + _trie(words) + after + rb")(?!" + relative[1:] + rb")")
    if end_names is None:
        alts.append(rb"</[a-z]")
    else:
        words = _words(end_names)
        if words:
            alts.append(rb"</" + _trie(words) + after)
    return re.compile(b"|".join(alts) if alts else rb"(?!)")


def _url_attribute(names: Iterable[str], value: bytes) -> bytes:
    """One of the attributes `names` with a `value` (or valueless)."""
    words = _words(names)
    return (
        _trie(words)
        + rb"(?:["
        + _WS
        + rb"]*+=["
        + _WS
        + rb"]*+"
        + value
        + rb"|(?!["
        + _WS
        + rb"]*+=)(?=["
        + _WS
        + rb"/>]))"
    )


def parse_attributes(region: bytes, codec: str) -> list[tuple[str, str]]:
    """Decode the attribute region of a complete tag into `(name, value)` pairs in order.

    Names are ASCII-lowercased; a repeated name keeps its first value (HTML §13.2.5.33);
    values are decoded in the page's charset and have character references resolved.
    """
    attrs: list[tuple[str, str]] = []
    seen: set[str] = set()
    # findall gives b"" for absent groups: a valueless attribute and `a=""` both read "".
    for raw_name, dq, sq, uq, _ in _ATTR_PARTS.findall(region):
        name = raw_name.lower().decode(codec, "replace")
        if name in seen:
            continue
        seen.add(name)
        raw = dq or sq or uq
        value = raw.decode(codec, "replace") if raw else ""
        if "&" in value:
            value = html.unescape(value)
        attrs.append((name, value))
    return attrs


# Bytes a name handed to the native scanner may not hold: it compares whole names up to the
# first of them (the regexes' tries would match such a name differently).
_NAME_DELIMITERS = re.compile(rb"[\t\n\f\r />=<]")


def skipper(pass_start: bool, pass_end: bool, native: bool = True) -> Skip:
    """`skip_pattern(S, E, frozenset())`'s match end as a function, `S`/`E` being
    `frozenset()` when start/end tags may go by and None when each one stops the run.
    Native when built, unless `native` is False."""
    if native and NATIVE:
        fast = _fastscan.skip
        return lambda buf, pos, endpos: fast(buf, pos, endpos, pass_start, pass_end)
    pattern = skip_pattern(
        frozenset() if pass_start else None, frozenset() if pass_end else None, frozenset()
    )

    def skip(buf: bytes, pos: int, endpos: int) -> int:
        found = pattern.match(buf, pos, endpos)
        assert found is not None  # the pattern may match empty, never fails
        return found.end()

    return skip


@lru_cache(maxsize=256)
def stop_finder(
    start_names: frozenset[str] | None,
    end_names: frozenset[str] | None,
    relative_names: frozenset[str] = frozenset(),
    url_attr_names: frozenset[str] = frozenset(),
    attr_names: frozenset[str] = frozenset(),
    native: bool = True,
) -> FindStop:
    """`stop_pattern(...)`'s search as a function: native when built and the names allow,
    unless `native` is False."""
    start = None if start_names is None else tuple(_words(start_names))
    end = None if end_names is None else tuple(_words(end_names))
    rest = (
        tuple(_words(relative_names)),
        tuple(_words(n for n in url_attr_names if not n.endswith("srcset"))),
        tuple(_words(n for n in url_attr_names if n.endswith("srcset"))),
        tuple(_words(attr_names)),
    )
    words = [w for group in (start or (), end or (), *rest) for w in group]
    if native and NATIVE and not any(_NAME_DELIMITERS.search(w) for w in words):
        return _fastscan.Stops(start, end, *rest).find
    pattern = stop_pattern(start_names, end_names, relative_names, url_attr_names, attr_names)

    def find(lowered: bytes, pos: int) -> int:
        found = pattern.search(lowered, pos)
        return found.start() if found is not None else len(lowered)

    return find
