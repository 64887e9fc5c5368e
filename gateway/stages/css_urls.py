"""The URLs a piece of CSS makes the browser fetch, and the same CSS without some of them.

Read per CSS Syntax Level 3 (§4.3): a function token is an identifier immediately followed by
`(`, and identifiers may spell any character as an escape (`u\\72l(` is `url(`, `\\75 rl(` too).
What fetches: `url(…)` (unquoted or a string), `src("…")`, the strings and `url()`s inside
`image-set()`/`-webkit-image-set()` (CSS Images 4 §2.2: a bare string there is a URL), and
`@import "…"`. `cross-fade()`, `@font-face` `src` and the rest reach their URLs through these.

Fail closed rather than exact: every function token with one of those names is read, even
inside a comment or a string (an ident followed by `(` is searched, not tokenized), so a URL
is never missed because the surrounding CSS was misread; neutralizing a URL the browser would
not have fetched is harmless. A neutralized URL becomes `about:invalid` (nothing is fetched).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

#: What a blocked URL is replaced with: a URL no browser fetches.
INERT_URL = "about:invalid#consentgate-blocked"

_WS = " \t\n\r\f"
# CSS Syntax §4.3.7: an escape is `\` + 1-6 hex digits + one optional whitespace (CRLF
# counting as one), or `\` + any other character but a newline.
_ESCAPE = r"\\(?:[0-9A-Fa-f]{1,6}(?:\r\n|[ \t\n\r\f])?|[^\n\r\f0-9A-Fa-f])"
# §4.2 "ident code point": letters, digits, `_`, `-`, non-ASCII (and escapes).
_IDENT_CHAR = r"[A-Za-z0-9_\-\u0080-\U0010ffff]"
# A function token's name ending at `(`; the lookbehind starts it at the identifier's start.
_FUNCTION = re.compile(
    r"(?<![A-Za-z0-9_\-\u0080-\U0010ffff\\])((?:" + _IDENT_CHAR + "|" + _ESCAPE + r")+)\("
)
_AT_KEYWORD = re.compile(r"@((?:" + _IDENT_CHAR + "|" + _ESCAPE + r")+)")
_ESCAPE_ONLY = re.compile(_ESCAPE)
# CSS Syntax §4.3.5: a string ends at its quote, or unclosed at a newline or the end.
_STRING = re.compile(
    r"\"((?:[^\"\\\n\r\f]|\\[\s\S])*)(?:\"|(?=[\n\r\f])|\Z)"
    r"|'((?:[^'\\\n\r\f]|\\[\s\S])*)(?:'|(?=[\n\r\f])|\Z)"
)
_SPACE_OR_COMMENT = re.compile(r"(?:[ \t\n\r\f]+|/\*[\s\S]*?(?:\*/|\Z))*")
# An unquoted url token's value runs to `)` (CSS Syntax §4.3.6; a quote, `(` or whitespace
# inside makes it a bad url, which fetches nothing: reading up to `)` anyway fails closed).
_UNQUOTED = re.compile(r"((?:[^)\\]|\\[\s\S])*)")
# Inside image-set(): strings, comments, nesting.
_ARGUMENT_PART = re.compile(
    r"/\*[\s\S]*?(?:\*/|\Z)|\"(?:[^\"\\\n\r\f]|\\[\s\S])*\"?|'(?:[^'\\\n\r\f]|\\[\s\S])*'?|[()]|[^\"'()/]+|/"
)

_URL_FUNCTIONS = frozenset({"url", "src"})
# CSS Images 4 §2.2 image-set(); `image()` (§2.1) takes a string URL as well.
_STRING_URL_FUNCTIONS = frozenset({"image-set", "-webkit-image-set", "image"})
_NAMES_HINT = re.compile(r"url|src|image|\\|@", re.IGNORECASE)


@dataclass(frozen=True)
class CssUrl:
    """One URL in a piece of CSS: its value (escapes resolved) and where its source text is."""

    url: str
    start: int
    end: int


def css_urls(css: str) -> Iterator[CssUrl]:
    """Every URL `css` may fetch, in order of appearance (possibly overlapping)."""
    if "(" not in css and "@" not in css or _NAMES_HINT.search(css) is None:
        return
    for match in _FUNCTION.finditer(css):
        name = _unescape(match.group(1)).lower()
        if name in _URL_FUNCTIONS:
            found = _function_url(css, match.end())
            if found is not None:
                yield found
        elif name in _STRING_URL_FUNCTIONS:
            yield from _string_arguments(css, match.end())
    if "@" in css:
        for match in _AT_KEYWORD.finditer(css):
            if _unescape(match.group(1)).lower() == "import":
                pos = _SPACE_OR_COMMENT.match(css, match.end())
                string = _STRING.match(css, pos.end() if pos else match.end())
                if string is not None:
                    yield _string_url(css, string)


def neutralize_css(css: str, blocked: Callable[[str], bool]) -> str | None:
    """`css` with every URL for which `blocked(url)` holds replaced by `INERT_URL`; None when
    there is none (the caller keeps the original)."""
    spans = sorted((u.start, u.end) for u in css_urls(css) if blocked(u.url))
    if not spans:
        return None
    out: list[str] = []
    last = 0
    for start, end in spans:
        if start < last:
            continue  # inside a span already replaced (a url() read within another)
        out.append(css[last:start])
        out.append(INERT_URL)
        last = end
    out.append(css[last:])
    return "".join(out)


def _function_url(css: str, pos: int) -> CssUrl | None:
    """The argument of `url(`/`src(` at `pos` (just after the parenthesis)."""
    space = _SPACE_OR_COMMENT.match(css, pos)
    at = space.end() if space else pos
    string = _STRING.match(css, at)
    if string is not None:
        return _string_url(css, string)
    value = _UNQUOTED.match(css, pos)
    assert value is not None  # may match empty
    raw = value.group(1)
    # The span keeps surrounding whitespace so `url( x )` becomes `url(about:invalid…)`.
    return CssUrl(_unescape(raw).strip(_WS), value.start(1), value.end(1))


def _string_url(css: str, string: re.Match[str]) -> CssUrl:
    body = string.group(1) if string.group(1) is not None else string.group(2) or ""
    # CSS Syntax §4.3.5: `\` + newline inside a string is a line continuation.
    body = re.sub(r"\\(?:\r\n|[\n\r\f])", "", body)
    # Replace the string's contents, keeping its quotes (a closing quote may be missing).
    end = string.start() + 1 + len(string.group(1) or string.group(2) or "")
    return CssUrl(_unescape(body), string.start() + 1, end)


def _string_arguments(css: str, pos: int) -> Iterator[CssUrl]:
    """The strings among the arguments of the function whose `(` ends at `pos`."""
    depth = 1
    for part in _ARGUMENT_PART.finditer(css, pos):
        text = part.group()
        if text == "(":
            depth += 1
        elif text == ")":
            depth -= 1
            if depth == 0:
                return
        elif text[0] in "\"'":
            string = _STRING.match(css, part.start())
            assert string is not None
            yield _string_url(css, string)


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    return _ESCAPE_ONLY.sub(_escaped_char, text)


def _escaped_char(match: re.Match[str]) -> str:
    body = match.group()[1:]
    hexdigits = body.rstrip(_WS)
    if hexdigits and all(c in "0123456789abcdefABCDEF" for c in hexdigits):
        code = int(hexdigits, 16)
        # CSS Syntax §4.3.7: zero, a surrogate or beyond U+10FFFF is U+FFFD.
        if code == 0 or 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
            return "\ufffd"
        return chr(code)
    return body
