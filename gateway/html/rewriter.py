"""The synchronous streaming HTML rewriter: bytes in, bytes out, stages in between.

`HtmlRewriter.feed()` returns every byte it can already decide on; it holds back only an
unfinished tag (at most `max_pending` bytes, past which it is followed to its end unheld), the
few bytes that might start a raw-text end tag, the original children of a slot being
replaced, and the text of a raw-text element a stage reads (`Stage.raw_text_of`, e.g. a
`<style>`; both at most `max_slot_bytes`, past which that text is dropped unread). Nothing
else is buffered, so the first bytes of a page leave before upstream has sent the rest.

Bytes are never decoded except the attribute values of the tags a stage asked for (see
`scanner.py`) and the raw text a stage reads. With no stage changing anything, the output is
the input, except where two conforming readings of the same bytes would differ and the page
is made to say one thing (each rewrite names its rule where it is made):
- inside `<svg>`/`<math>` the tree builder is simulated as far as it moves the namespace
  boundary (`foreign.py`), and end tags are put before a tag whose effect would depend on
  elements outside the island; table tags and CDATA right under an integration point
  become text;
- inside `<noscript>` (raw text with scripting on, markup with it off) a `</noscript` the
  markup reading does not see as a tag becomes text;
- inside a `<select>` the tags parsers read differently before and after customizable select,
  and after a `<frameset>` those a frameset ignores, become text.

A slot ends at its matching end tag (a `<p>` slot also at a tag that closes `p`). A tag longer
than `max_pending` is never passed on unread: it is followed to its end as the tokenizer would,
and one a stage wants to see is replaced by an attribute-less copy (it loads nothing).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import NamedTuple

from gateway.html.charset import (
    CP1252_ERRORS,
    PRESCAN_BYTES,
    is_scannable,
    prescan_meta,
    sniff_bom,
)
from gateway.html.foreign import NEEDS_ATTRIBUTES, Island
from gateway.html.scanner import (
    COMMENT_END,
    FOREIGN_ROOTS,
    P_CLOSERS,
    PLAINTEXT,
    RAW_TEXT,
    SCRIPT_DATA,
    SCRIPT_DOUBLE,
    SCRIPT_ESCAPED,
    TAG,
    VOID,
    parse_attributes,
    raw_text_end,
    skipper,
    stop_finder,
)
from gateway.html.stage import ALL, DocumentEnd, EndTag, Stage, StartTag

DEFAULT_MAX_PENDING = 64 * 1024
DEFAULT_MAX_SLOT_BYTES = 1024 * 1024

# Tokenizer states (HTML §13.2.5), reduced to what decides where markup is; _LONG is inside a
# tag longer than `max_pending` (see `_LongTag`).
_DATA, _RAW, _SCRIPT, _COMMENT, _BOGUS, _PLAINTEXT, _CDATA, _LONG = range(8)
# Script data sub-states (HTML §13.2.5.4, §13.2.5.20, §13.2.5.27).
_S_DATA, _S_ESCAPED, _S_DOUBLE = range(3)
_UNQUOTED_TAIL = re.compile(rb"=[\t\n\f\r ]*+[^\t\n\f\r >\"'][^\t\n\f\r >]*+\Z")
_ALPHA = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_NOSCRIPT_END = re.compile(rb"</noscript[\t\n\f\r />]", re.IGNORECASE)
# Bytes a non-data state keeps back inside `<noscript>`: a `</noscript` and its delimiter.
_NOSCRIPT_HOLD = 11
# Start tags a `<select>` reads differently by spec version (see `_start_tag`), and those that
# close it in every version.
_SELECT_AMBIGUOUS = frozenset(
    "style xmp iframe noembed noframes noscript title plaintext svg math".split()
)
_SELECT_CLOSERS = frozenset({"input", "keygen", "textarea", "select"})
# HTML §13.2.6.4.20-§13.2.6.4.22: after a `<frameset>` every start tag but these is ignored, so
# a `<style>` or `<svg>` changes nothing there while it would in a body (see `_start_tag`).
_FRAMESET_AMBIGUOUS = (RAW_TEXT - {"noframes"}) | {"noscript", "plaintext", "svg", "math"}
_CDATA_OPEN = b"<![CDATA["
_CDATA_END = b"]]>"

# HTML §13.2.5.8-§13.2.5.40: the tag states, for a tag too long to hold (see `_LongTag`).
_T_NAME, _T_BEFORE, _T_NAME_ATTR, _T_AFTER_NAME, _T_BEFORE_VALUE = range(5)
_T_DQ, _T_SQ, _T_UQ, _T_AFTER_VALUE, _T_SELF = range(5, 10)
_WS_BYTES = frozenset(b"\t\n\f\r ")
_RUN_END = {
    _T_NAME: re.compile(rb"[\t\n\f\r />]"),
    _T_NAME_ATTR: re.compile(rb"[\t\n\f\r />=]"),
    _T_DQ: re.compile(rb'"'),
    _T_SQ: re.compile(rb"'"),
    _T_UQ: re.compile(rb"[\t\n\f\r >]"),
}


class _LongTag:
    """A tag longer than `max_pending`, followed byte by byte to its `>` (not held)."""

    __slots__ = ("end", "name", "state", "drop")

    def __init__(self, end: bool, name: str, drop: bool) -> None:
        self.end = end
        self.name = name  # "" when the name itself is too long for any rule to know it
        self.state = _T_NAME
        self.drop = drop  # its bytes are replaced (see `HtmlRewriter._oversized`)

    def consume(self, buf: bytes, pos: int) -> tuple[int, bool | None]:
        """Read from `pos`: (where reading stopped, None while the tag goes on, else whether
        it ended self-closing)."""
        n = len(buf)
        while pos < n:
            state = self.state
            run = _RUN_END.get(state)
            if run is not None:
                found = run.search(buf, pos)
                if found is None:
                    return n, None
                pos = found.start()
            c = buf[pos]
            if state == _T_DQ or state == _T_SQ:
                self.state = _T_AFTER_VALUE
                pos += 1
                continue
            if c == 0x3E:  # ends the tag in every state but the quoted values
                return pos + 1, state == _T_SELF
            pos, self.state = self._step(state, c, pos)
        return n, None

    @staticmethod
    def _step(state: int, c: int, pos: int) -> tuple[int, int]:
        """One byte that is not `>`: (next position, next state); reconsuming keeps `pos`."""
        ws = c in _WS_BYTES
        if state in (_T_NAME, _T_UQ, _T_AFTER_VALUE):
            if ws:
                return pos + 1, _T_BEFORE
            if c == 0x2F and state != _T_UQ:
                return pos + 1, _T_SELF
            return (pos + 1, state) if state == _T_NAME else (pos, _T_BEFORE)
        if state == _T_SELF:
            return pos, _T_BEFORE
        if state == _T_BEFORE:
            if ws:
                return pos + 1, _T_BEFORE
            if c == 0x2F:
                return pos, _T_AFTER_NAME
            return pos + 1, _T_NAME_ATTR  # `=` may start a name
        if state == _T_NAME_ATTR:
            if c == 0x3D:
                return pos + 1, _T_BEFORE_VALUE
            return pos, _T_AFTER_NAME
        if state == _T_AFTER_NAME:
            if ws:
                return pos + 1, _T_AFTER_NAME
            if c == 0x2F:
                return pos + 1, _T_SELF
            if c == 0x3D:
                return pos + 1, _T_BEFORE_VALUE
            return pos, _T_NAME_ATTR
        # _T_BEFORE_VALUE
        if ws:
            return pos + 1, _T_BEFORE_VALUE
        if c == 0x22:
            return pos + 1, _T_DQ
        if c == 0x27:
            return pos + 1, _T_SQ
        return pos, _T_UQ


class _Drop:
    """The original children of a slot whose content a stage replaced."""

    __slots__ = ("name", "depth", "parts", "size")

    def __init__(self, name: str) -> None:
        self.name = name
        self.depth = 1
        self.parts: list[bytes] = []
        self.size = 0


class _Plan(NamedTuple):
    """What a set of stages wants to see, as the scanner uses it (see `_plan`)."""

    all_start: bool
    all_end: bool
    base_start: frozenset[str]
    base_end: frozenset[str]
    attr_names: frozenset[str]
    url_attr_names: frozenset[str]
    attr_bytes: tuple[bytes, ...]
    attr_probe: re.Pattern[bytes] | None


@lru_cache(maxsize=256)
def _plan(
    wants: tuple[tuple[frozenset[str], frozenset[str], frozenset[str], frozenset[str]], ...],
) -> _Plan:
    """The scanner's view of stages that want `(tags, end_tags, attributes, url_attributes)`:
    worked out once per combination, not per page (a page gets the same few stage sets)."""
    tags = frozenset().union(*(w[0] for w in wants))
    end_tags = frozenset().union(*(w[1] for w in wants))
    attr_names = frozenset().union(*(w[2] for w in wants))
    return _Plan(
        all_start=ALL in tags,
        all_end=ALL in end_tags,
        # HTML §13.2.6.4.7: an `<image>` start tag builds an `img`.
        base_start=(tags - {ALL})
        | RAW_TEXT
        | FOREIGN_ROOTS
        | {PLAINTEXT, "noscript", "select", "frameset"}
        | ({"image"} if "img" in tags else set()),
        base_end=end_tags - {ALL},
        attr_names=attr_names,
        url_attr_names=frozenset().union(*(w[3] for w in wants)),
        attr_bytes=tuple(sorted(a.lower().encode("ascii", "ignore") for a in attr_names)),
        attr_probe=(
            re.compile(b"|".join(re.escape(a.encode()) for a in attr_names), re.IGNORECASE)
            if attr_names
            else None
        ),
    )


class HtmlRewriter:
    """Streams one HTML document through `stages`; `feed()` chunks, then `close()` once."""

    def __init__(
        self,
        stages: Sequence[Stage],
        *,
        charset: str | None = None,
        max_pending: int = DEFAULT_MAX_PENDING,
        max_slot_bytes: int = DEFAULT_MAX_SLOT_BYTES,
        native: bool = True,
        to_utf8: bool = False,
    ) -> None:
        """`charset` is the Python codec named by the Content-Type header (None: sniff);
        `native` False scans with the regexes even where the C scanner is built. `to_utf8`
        (with no `charset`): decide the encoding as a browser would without one in the header
        (BOM, the 1,024-byte prescan, else windows-1252) and write the page as UTF-8, for a
        caller that announces `charset=utf-8` so the browser cannot pick another."""
        self._native = native
        self._to_utf8 = to_utf8 and charset is None
        self._stages = tuple(stages)
        self._header_codec = charset
        self._max_pending = max_pending
        self._max_slot_bytes = max_slot_bytes
        self._decode = self._encode = charset or "cp1252"
        self._decided = False
        self._transcoder: codecs.IncrementalDecoder | None = None
        self._closed = False
        self._buf = b""
        self._mark = 0
        self._out: list[bytes] = []
        self._state = _DATA
        self._raw_name = b""
        self._raw_readers: tuple[Stage, ...] = ()
        self._raw_dropping = False
        self._script = _S_DATA
        self._island: Island | None = None
        self._noscript = False
        self._select = False
        self._frameset = False
        self._long: _LongTag | None = None
        self._drop: _Drop | None = None

        plan = _plan(
            tuple((s.tags, s.end_tags, s.attributes, s.url_attributes) for s in self._stages)
        )
        self._all_start, self._all_end = plan.all_start, plan.all_end
        self._base_start, self._base_end = plan.base_start, plan.base_end
        self._attr_names, self._url_attr_names = plan.attr_names, plan.url_attr_names
        self._attr_bytes, self._attr_probe = plan.attr_bytes, plan.attr_probe
        self._relative_of = tuple(s.relative_tags for s in self._stages)
        self._relative = self._relative_names()
        self._attr_at = [-1] * len(self._attr_bytes)
        self._stop_at = -1
        self._by_start: dict[str, tuple[Stage, ...]] = {}
        self._by_end: dict[str, tuple[Stage, ...]] = {}
        self._refresh()

    @property
    def charset(self) -> str | None:
        """Codec used for attribute values once decided (None before the first bytes)."""
        return self._decode if self._decided else None

    @property
    def transcoded(self) -> bool:
        """True when the page is decoded and rewritten as UTF-8: its charset is not
        ASCII-compatible (UTF-16, ISO-2022-JP …), or `to_utf8` asked for it. The output is led
        by a UTF-8 BOM so that the browser reads it as such whatever the headers say (WHATWG
        Encoding §6: a BOM wins)."""
        return self._transcoder is not None

    def feed(self, data: bytes) -> bytes:
        """Take the next chunk of the page; return the output bytes ready so far."""
        if self._closed:
            raise RuntimeError("feed() after close()")
        if self._transcoder is not None:
            data = self._transcoder.decode(data).encode("utf-8")
        self._buf = self._buf + data if self._buf else data
        if not self._decided and not self._decide(final=False):
            return b""
        self._run(final=False)
        return self._take()

    def close(self) -> bytes:
        """End of the page: return the remaining output, then what end-of-document hooks add."""
        if self._closed:
            return b""
        self._closed = True
        if not self._decided:
            self._decide(final=True)
        if self._transcoder is not None:
            self._buf += self._transcoder.decode(b"", final=True).encode("utf-8")
        self._run(final=True)
        if self._drop is not None:
            self._recover()
        doc = DocumentEnd()
        for stage in self._stages:
            stage.end_document(doc)
        self._out.extend(self._enc(h) for h in doc._appended)
        return self._take()

    # -- charset ---------------------------------------------------------------------------

    def _decide(self, *, final: bool) -> bool:
        need = 3 if self._header_codec else PRESCAN_BYTES
        if len(self._buf) < need and not final:
            return False
        # WHATWG Encoding §6: a BOM overrides the Content-Type charset.
        codec = sniff_bom(self._buf) or self._header_codec or prescan_meta(self._buf)
        self._decided = True
        if codec is None and self._to_utf8:
            # HTML §13.2.3.2 steps 8-9: a page that declares nothing is left to the browser's
            # guess (Chromium detects UTF-8 from the content), else windows-1252. It leaves
            # here as UTF-8 either way; read it as UTF-8 when its first bytes are UTF-8, so a
            # modern page that forgot its declaration keeps its letters.
            codec = "utf-8" if _utf8_prefix(self._buf[:PRESCAN_BYTES]) else "cp1252"
        if codec is None:
            # Unknown charset: decode leniently, insert pure ASCII (character references are
            # correct in every ASCII-compatible charset the browser may pick).
            self._decode, self._encode = "cp1252", "ascii"
        elif is_scannable(codec) and (not self._to_utf8 or codec == "utf-8"):
            self._decode = self._encode = codec
        else:
            # Fail closed: a page the byte scanner cannot read is still rewritten (blocking and
            # banner apply), as UTF-8; so is one whose encoding the header did not fix (a late
            # `<meta charset>` could otherwise make the browser re-decode it, HTML §13.2.3.4).
            # WHATWG Encoding §4.2: the "utf-16" label is UTF-16LE.
            source = "utf-16-le" if codec == "utf-16" else codec
            errors = CP1252_ERRORS if source == "cp1252" else "replace"
            self._transcoder = codecs.getincrementaldecoder(source)(errors)
            text = self._transcoder.decode(self._buf)
            self._buf = text.encode("utf-8")
            if not text.startswith("\ufeff"):  # a BOM decoded as U+FEFF re-encodes as one
                self._out.append(b"\xef\xbb\xbf")
            self._decode = self._encode = "utf-8"
        return True

    def _enc(self, html: str) -> bytes:
        return html.encode(self._encode, "xmlcharrefreplace")

    # -- output ----------------------------------------------------------------------------

    def _take(self) -> bytes:
        out = b"".join(self._out)
        self._out.clear()
        return out

    def _sink(self) -> list[bytes]:
        return self._drop.parts if self._drop is not None else self._out

    def _flush(self, buf: bytes, upto: int) -> None:
        """Send the untouched bytes `buf[mark:upto]` to the current sink."""
        if upto <= self._mark:
            return
        piece = buf[self._mark : upto]
        self._mark = upto
        drop = self._drop
        if drop is None:
            self._out.append(piece)
            return
        drop.parts.append(piece)
        drop.size += len(piece)
        if drop.size > self._max_slot_bytes:
            self._recover()

    def _recover(self) -> None:
        """Give up replacing a slot whose end never came: close it, keep its original bytes."""
        drop = self._drop
        assert drop is not None
        self._drop = None
        self._out.append(b"</" + drop.name.encode("ascii", "ignore") + b">")
        self._out.extend(drop.parts)
        self._refresh()

    def _relative_names(self) -> frozenset[str]:
        """Start tags every stage that wants them can skip when their URLs are relative."""
        if self._all_start:
            return frozenset()
        names = frozenset().union(*self._relative_of) - RAW_TEXT - FOREIGN_ROOTS - {PLAINTEXT}
        return frozenset(
            name
            for name in names
            if all(name in s.relative_tags for s in self._stages if name in s.tags)
        )

    def _refresh(self) -> None:
        """Pick the skip pattern for the current state (what counts as interesting)."""
        start: frozenset[str] | None = None
        end: frozenset[str] | None = None
        relative: frozenset[str] = frozenset()
        if self._island is not None:
            pass  # every tag decides the namespace (see `foreign.py`): all of them stop
        elif not self._all_start:
            extra: frozenset[str] = frozenset()
            if self._drop is not None:
                extra = extra | {self._drop.name}
                if self._drop.name == "p":
                    extra = extra | P_CLOSERS
            if self._select:
                extra = extra | _SELECT_CLOSERS
            relative = self._relative - extra
            start = (self._base_start | extra) - relative
        if not self._all_end and self._island is None:
            end = self._base_end
            if self._drop is not None:
                end = end | {self._drop.name}
            if self._noscript:
                end = end | {"noscript"}
            if self._select:
                end = end | {"select"}
        url_attrs = self._url_attr_names if relative else frozenset()
        # Search for the next stop, then skip what lies before it as plain markup (see
        # `stop_pattern`): far fewer steps per uninteresting tag than one pattern that checks
        # every tag's name and attributes on the way.
        native = self._native
        self._stop = stop_finder(start, end, relative, url_attrs, self._attr_names, native)
        self._stop_at = -1
        self._skip = skipper(start is not None, end is not None, native)

    def _next_stop(self, lowered: bytes, pos: int) -> int:
        """Where the next possibly interesting thing is at or after `pos` (len: none)."""
        at = self._stop_at
        if at < pos:
            at = self._stop_at = self._stop(lowered, pos)
        for i, name in enumerate(self._attr_bytes):
            hit = self._attr_at[i]
            if hit < pos:
                hit = lowered.find(name, pos)
                hit = self._attr_at[i] = hit if hit >= 0 else len(lowered)
            at = min(at, hit)
        if self._island is not None:
            # HTML §13.2.5.42: in foreign content `<![CDATA[` opens a CDATA section, which the
            # skip pattern would read as a bogus comment.
            hit = lowered.find(b"<![cdata[", pos)
            if 0 <= hit < at:
                at = hit
        return at

    # -- the scanner loop ------------------------------------------------------------------

    def _run(self, *, final: bool) -> None:
        buf = self._buf
        n = len(buf)
        pos = 0
        self._mark = 0
        self._stop_at = -1
        self._attr_at = [-1] * len(self._attr_bytes)
        lowered = b""
        while pos < n:
            state = self._state
            if state == _DATA:
                if not lowered:
                    lowered = buf.lower()  # ASCII only: same length, same positions
                stop = self._next_stop(lowered, pos)
                pos = self._skip(buf, pos, stop)
                if pos >= n:
                    break
                if pos == stop and buf[pos] != 0x3C:
                    new = pos + 1  # an attribute name found in text: text
                else:
                    # A stop, or markup running past one (the stop is inside it).
                    new = self._markup(buf, pos)
            elif state == _RAW:
                if self._raw_readers:
                    new = self._read_raw_text(buf, pos, final)
                else:
                    new = self._raw_text(buf, pos)
            elif state == _SCRIPT:
                new = self._script_data(buf, pos)
            elif state == _COMMENT:
                found = COMMENT_END.search(buf, pos)
                if found is not None:
                    self._state = _DATA
                    new = found.end()
                else:
                    new = max(pos, n - 3)  # keep what may start `--!>`
            elif state == _BOGUS:
                gt = buf.find(b">", pos)
                if gt >= 0:
                    self._state = _DATA
                    new = gt + 1
                else:
                    new = n
            elif state == _CDATA:  # HTML §13.2.5.69: up to `]]>`
                end = buf.find(_CDATA_END, pos)
                if end >= 0:
                    self._state = _DATA
                    new = end + 3
                else:
                    new = max(pos, n - 2)
            elif state == _LONG:
                new = self._long_tag(buf, pos)
            else:  # _PLAINTEXT: HTML §13.2.5.5, the rest of the document is text
                new = n
            if self._noscript and state != _DATA:
                if self._state == state and state in (_COMMENT, _BOGUS, _CDATA, _PLAINTEXT):
                    new = max(pos, min(new, n - _NOSCRIPT_HOLD))
                self._guard_noscript(buf, pos, new)
            if new == pos:
                if final:
                    pos = n  # EOF inside markup: the bytes leave as they came
                break
            pos = new
        self._flush(buf, pos)
        self._buf = buf[pos:]
        self._mark = 0

    def _markup(self, buf: bytes, pos: int) -> int:
        """At a `<` the skip pattern stopped on; return the position after what it starts."""
        n = len(buf)
        if pos + 1 >= n:
            return pos
        c = buf[pos + 1]
        if c in _ALPHA:
            return self._tag(buf, pos)
        if c == 0x21:  # `<!`
            island = self._island
            if island is not None and island.cdata != "comment":
                if n - pos < 9 and _CDATA_OPEN.startswith(buf[pos:n]):
                    return pos
                if buf.startswith(_CDATA_OPEN, pos):
                    if island.cdata == "cdata":
                        self._state = _CDATA
                        return pos + 9
                    # At an integration point the namespace of the current node rests on
                    # rules not simulated (foreign.py): make it text in both readings.
                    return self._as_text(buf, pos)
            if buf.startswith(b"<!--", pos):
                # Unfinished comment (complete ones never get here): stream it, once three
                # content bytes rule out the abrupt `<!-->` / `<!--->` ends.
                if n - pos < 7:
                    return pos
                self._state = _COMMENT
                return pos + 4
            if n - pos < 4 and b"<!--".startswith(buf[pos:n]):
                return pos
            self._state = _BOGUS
            return pos + 2
        if c == 0x3F:  # `<?`
            self._state = _BOGUS
            return pos + 2
        if c == 0x2F:  # `</`
            if pos + 2 >= n:
                return pos
            c2 = buf[pos + 2]
            if c2 in _ALPHA:
                return self._tag(buf, pos)
            if c2 == 0x3E:  # `</>` is dropped by the tokenizer
                return pos + 3
            self._state = _BOGUS
            return pos + 2
        return pos + 1

    def _tag(self, buf: bytes, pos: int) -> int:
        m = TAG.match(buf, pos)
        assert m is not None  # `<` + letter always starts a tag
        guarded = self._noscript
        if m.group(4) is None:
            if len(buf) - pos > self._max_pending:
                return self._oversized(buf, pos, m)
            return pos
        name = m.group(2).lower().decode("latin-1")
        if m.group(1):
            new = self._end_tag(buf, pos, m.end(), name)
        else:
            new = self._start_tag(buf, pos, m.end(), name, m.group(3))
        if guarded:
            self._guard_noscript(buf, pos + 1, new)
        return new

    def _guard_noscript(self, buf: bytes, start: int, end: int) -> None:
        """Inside `<noscript>`, read as markup (scripting off), turn the `<` of a `</noscript`
        in text-like content (a comment, raw text, an attribute value …) into `&lt;`.

        HTML §13.2.6.4.7: with scripting on, `noscript` is raw text up to the first
        `</noscript`; with scripting off its content is markup. Where the second reading does
        not see an end tag there, the first would leave `noscript` early and find tags the
        scanner read as text. As a character reference it ends nothing in either reading and
        means the same character to the second one (or, in raw text, is harmless: it only runs
        with scripting off)."""
        for found in _NOSCRIPT_END.finditer(buf, start, min(len(buf), end + _NOSCRIPT_HOLD)):
            at = found.start()
            if at >= end:
                break
            if at < self._mark:
                continue  # already sent (a stage's insertion flushed past it)
            self._flush(buf, at)
            self._sink().append(b"&lt;")
            self._mark = at + 1

    def _raw_text(self, buf: bytes, pos: int) -> int:
        found = raw_text_end(self._raw_name).search(buf, pos)
        if found is None:
            # Hold back only from a `<` that may start the end tag.
            hold = max(len(self._raw_name) + 2, _NOSCRIPT_HOLD if self._noscript else 0)
            lt = buf.rfind(b"<", max(pos, len(buf) - hold))
            return lt if lt >= 0 else len(buf)
        return self._close_raw(buf, found.start())

    def _read_raw_text(self, buf: bytes, pos: int, final: bool) -> int:
        """Raw text a stage reads (`Stage.raw_text_of`): held until its end tag, then handed
        over whole. Past `max_slot_bytes` it is dropped (fail closed: it was not read)."""
        found = raw_text_end(self._raw_name).search(buf, pos)
        end = found.start() if found is not None else len(buf)
        if found is None and not final:
            if self._raw_dropping or len(buf) - pos > self._max_slot_bytes:
                # Keep only what may start the end tag; drop the rest unread.
                lt = buf.rfind(b"<", max(pos, len(buf) - len(self._raw_name) - 2))
                end = lt if lt >= 0 else len(buf)
                self._flush(buf, pos)
                if not self._raw_dropping:
                    self._sink().append(b"/* consentgate: too large to check, dropped */")
                    self._raw_dropping = True
                self._mark = end
                return end
            return pos  # wait for the end tag
        if self._raw_dropping:
            self._flush(buf, pos)
            self._mark = end
        else:
            # Raw text has no character references: bytes the codec cannot read go through
            # as they came (surrogateescape), not as `&#…;` text.
            original = text = buf[pos:end].decode(self._decode, "surrogateescape")
            name = self._raw_name.decode("ascii")
            for stage in self._raw_readers:
                replaced = stage.raw_text(name, text)
                text = replaced if replaced is not None else text
            if text is not original:
                self._flush(buf, pos)
                try:
                    out = text.encode(self._decode, "surrogateescape")
                except UnicodeEncodeError:
                    out = self._enc(text.encode("utf-8", "replace").decode("utf-8"))
                self._sink().append(out)
                self._mark = end
        if found is None:
            return len(buf)
        self._raw_readers = ()
        self._raw_dropping = False
        return self._close_raw(buf, end)

    def _script_data(self, buf: bytes, pos: int) -> int:
        # HTML §13.2.5.4-§13.2.5.31: `<!--` escapes, `<script>` inside that double-escapes
        # (so `</script>` does not end it), `-->` unescapes.
        while True:
            if self._script == _S_DATA:
                found = SCRIPT_DATA.search(buf, pos)
            elif self._script == _S_ESCAPED:
                found = SCRIPT_ESCAPED.search(buf, pos)
            else:
                found = SCRIPT_DOUBLE.search(buf, pos)
            if found is None:
                return max(pos, len(buf) - (_NOSCRIPT_HOLD if self._noscript else 8))
            token = found.group()
            if token == b"<!--":
                self._script = _S_ESCAPED
                pos = found.start() + 2  # its dashes may end it: `<!-->`
            elif token == b"-->":
                self._script = _S_DATA
                pos = found.end()
            elif token[1] != 0x2F:  # `<script`: double-escape
                self._script = _S_DOUBLE
                pos = found.end()
            elif self._script == _S_DOUBLE:  # `</script` leaves double-escape only
                self._script = _S_ESCAPED
                pos = found.end()
            else:
                return self._close_raw(buf, found.start())

    def _close_raw(self, buf: bytes, at: int) -> int:
        """Handle the end tag at `at` that closes the raw-text element."""
        m = TAG.match(buf, at)
        assert m is not None
        if m.group(4) is None:
            if len(buf) - at > self._max_pending:
                # HTML §13.2.5.13: the raw text ends at the name; follow the tag to its `>`.
                self._script = _S_DATA
                return self._oversized(buf, at, m, raw_end=True)
            return at  # the raw text before it is done; wait for the rest of the tag
        self._state = _DATA
        self._script = _S_DATA
        name = m.group(2).lower().decode("latin-1")
        return self._end_tag(buf, at, m.end(), name, raw_end=True)

    # -- tags too long to hold -------------------------------------------------------------

    def _oversized(self, buf: bytes, pos: int, m: re.Match[bytes], raw_end: bool = False) -> int:
        """A tag past `max_pending` bytes: follow it to its end without holding it. A start
        tag a stage wants is replaced by `<name data-consentgate="oversized">` (its
        attributes, URLs among them, are dropped: fail closed); any other passes as it is."""
        end_tag = bool(m.group(1))
        complete = m.end(2) < len(buf)
        name = m.group(2).lower().decode("latin-1") if complete else ""
        drop = False
        if end_tag:
            if not raw_end:
                self._island_end(buf, pos, name)
        elif name and self._ambiguous_start(name):
            return self._as_text(buf, pos)
        elif name and (
            self._all_start
            or any(name in s.tags for s in self._stages)
            or (self._island is not None and name in NEEDS_ATTRIBUTES)
        ):
            drop = True
            self._flush(buf, pos)
            inert = ' type="text/plain"' if name == "script" else ""
            self._sink().append(f'<{name}{inert} data-consentgate="oversized">'.encode("ascii"))
        self._long = _LongTag(end_tag, name, drop)
        self._state = _LONG
        new = m.end(2)
        if drop:
            self._mark = new
        return new

    def _long_tag(self, buf: bytes, pos: int) -> int:
        long = self._long
        assert long is not None
        new, self_closing = long.consume(buf, pos)
        if long.drop:
            self._mark = new
        if self_closing is None:
            return new
        self._long = None
        self._state = _DATA
        if not long.end and long.name:
            self._enter(long.name, dict, self_closing and not long.drop)
        return new

    # -- tags ------------------------------------------------------------------------------

    def _start_tag(self, buf: bytes, pos: int, end: int, name: str, region: bytes) -> int:
        drop = self._drop
        if drop is not None:
            if drop.name == "p" and name in P_CLOSERS:
                # HTML §13.2.6.4.7: this start tag closes the open `p`, ending the slot.
                self._flush(buf, pos)
                self._drop = None
                self._refresh()
            elif name == drop.name and name not in VOID:
                drop.depth += 1
        self_closing = region.endswith(b"/") and not _UNQUOTED_TAIL.search(region)
        if self._ambiguous_start(name):
            return self._as_text(buf, pos)
        island = self._island
        html = self._enter(name, lambda: dict(parse_attributes(region, self._decode)), self_closing)
        if island is not None:
            closers = island.take_closers()
            if closers:
                self._flush(buf, pos)
                self._sink().append("".join(closers).encode("latin-1"))
        if name == "image" and html:
            name = "img"  # HTML §13.2.6.4.7: "Change the token's tag name to "img""

        named = self._by_start.get(name)
        if named is None:
            named = self._by_start[name] = tuple(
                s for s in self._stages if name in s.tags or ALL in s.tags
            )
        hit = self._attr_probe is not None and self._attr_probe.search(region) is not None
        if named or hit:
            attrs = parse_attributes(region, self._decode)
            chosen = named
            if hit:
                present = {k for k, _ in attrs}
                chosen = tuple(
                    s for s in self._stages if s in named or not s.attributes.isdisjoint(present)
                )
            if chosen:
                tag = StartTag(name, attrs, buf[pos:end], self_closing)
                for stage in chosen:
                    stage.start_tag(tag)
                self._emit_start(buf, pos, end, tag)
                relative_of = tuple(s.relative_tags for s in self._stages)
                if relative_of != self._relative_of:
                    self._relative_of = relative_of
                    self._relative = self._relative_names()
                    self._refresh()

        return end

    def _ambiguous_start(self, name: str) -> bool:
        """Whether a start tag must go as text (parsers read it differently, see below);
        else note what it opens. For tags of any length."""
        if self._island is not None and self._island.is_stray_table_tag(name, end=False):
            return True
        if self._frameset and name in _FRAMESET_AMBIGUOUS:
            # Whether the frameset took (frameset-ok, §13.2.6.4.7) rests on what came before;
            # as text these mean the same in a frameset and in a body.
            return True
        if name == "frameset" and self._island is None:
            self._frameset = True
        if self._select and self._island is None:
            if name in _SELECT_AMBIGUOUS:
                # HTML §13.2.6.4.16 (before customizable select) ignores these in a select,
                # so the tokenizer reads on as markup; today's rules make them raw text or
                # SVG. Browsers of both kinds are in use: as text they mean the same to all.
                return True
            if name in _SELECT_CLOSERS:
                self._select = False
                self._refresh()
        elif name == "select" and self._island is None:
            self._select = True
            self._refresh()
        return False

    def _enter(self, name: str, attrs: Callable[[], dict[str, str]], self_closing: bool) -> bool:
        """What a start tag does to how the tokenizer reads on (HTML §13.2.6); True when it
        makes an HTML element."""
        island = self._island
        if island is not None:
            html = island.start(name, attrs, self_closing)
            if not island.open:
                self._island = None
                self._refresh()
            if not html:
                return False
        elif name in FOREIGN_ROOTS:
            if not self_closing:
                self._island = Island(name)
                self._refresh()
            return False
        # HTML §13.2.6.4.4, §13.2.6.4.7: raw text, RCDATA and PLAINTEXT, for HTML elements only.
        if name in RAW_TEXT:
            self._raw_name = name.encode("ascii")
            self._raw_readers = tuple(s for s in self._stages if name in s.raw_text_of)
            self._state = _SCRIPT if name == "script" else _RAW
            self._script = _S_DATA
        elif name == PLAINTEXT:
            self._state = _PLAINTEXT
        elif name == "noscript" and not self._noscript:
            self._noscript = True  # see `_guard_noscript`
            self._refresh()
        return True

    def _as_text(self, buf: bytes, pos: int) -> int:
        """Send the `<` at `pos` as `&lt;`: the browser reads what follows as text, as the
        scanner then does."""
        self._flush(buf, pos)
        self._sink().append(b"&lt;")
        self._mark = pos + 1
        return pos + 1

    def _island_end(self, buf: bytes, pos: int, name: str) -> None:
        """An end tag at `pos` inside SVG/MathML: pops, and the end tags `Island.end` puts
        before it."""
        island = self._island
        if island is None:
            return
        closers = island.end(name)
        if closers:
            self._flush(buf, pos)
            self._sink().append("".join(closers).encode("latin-1"))
        if not island.open:
            self._island = None
            self._refresh()

    def _emit_start(self, buf: bytes, pos: int, end: int, tag: StartTag) -> None:
        fill = tag._content is not None and tag.name not in VOID and self._drop is None
        if not (tag._before or tag._after or tag._modified or fill) and tag._replacement is None:
            return
        self._flush(buf, pos)
        sink = self._sink()
        sink.extend(self._enc(h) for h in tag._before)
        if tag._replacement is not None:
            sink.append(self._enc(tag._replacement))
        elif tag._modified:
            sink.append(self._enc(_serialize(tag)))
        else:
            sink.append(tag.raw)
        sink.extend(self._enc(h) for h in tag._after)
        self._mark = end
        if fill:
            assert tag._content is not None
            sink.append(self._enc(tag._content))
            self._drop = _Drop(tag.name)
            self._refresh()

    def _end_tag(self, buf: bytes, pos: int, end: int, name: str, raw_end: bool = False) -> int:
        if not raw_end:
            if self._island is not None and self._island.is_stray_table_tag(name, end=True):
                return self._as_text(buf, pos)
            self._island_end(buf, pos, name)
            if name == "noscript" and self._noscript:
                self._noscript = False
                self._refresh()
            if name == "select" and self._select:
                self._select = False
                self._refresh()
        drop = self._drop
        if drop is not None and name == drop.name:
            drop.depth -= 1
            if drop.depth == 0:
                self._flush(buf, pos)
                self._drop = None  # the slot's original children are discarded
                self._refresh()
        stages = self._by_end.get(name)
        if stages is None:
            stages = self._by_end[name] = tuple(
                s for s in self._stages if name in s.end_tags or ALL in s.end_tags
            )
        if stages:
            tag = EndTag(name, buf[pos:end])
            for stage in stages:
                stage.end_tag(tag)
            if tag._before or tag._after:
                self._flush(buf, pos)
                sink = self._sink()
                sink.extend(self._enc(h) for h in tag._before)
                sink.append(tag.raw)
                sink.extend(self._enc(h) for h in tag._after)
                self._mark = end
        return end


def _serialize(tag: StartTag) -> str:
    parts = ["<", tag.name]
    for name, value in tag._attrs:
        if value:
            # `<` too: the same value, and no `</noscript` for a scripting browser to end at.
            escaped = value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
            parts.append(f' {name}="{escaped}"')
        else:
            parts.append(f" {name}")
    parts.append("/>" if tag.self_closing else ">")
    return "".join(parts)


def _utf8_prefix(data: bytes) -> bool:
    """True if `data` is valid UTF-8, allowing a sequence cut off at its end."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=False)
    except UnicodeDecodeError:
        return False
    return True
