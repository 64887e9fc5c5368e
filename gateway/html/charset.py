"""Which charset a page is in, and whether the byte scanner may touch it.

Order of precedence as in browsers (WHATWG Encoding §4.1 / HTML §13.2.3.2): a byte-order mark,
then the `charset` of the Content-Type header, then `<meta charset>` or `<meta http-equiv=
Content-Type content="...charset=...">` in the first 1024 bytes.

The rewriter scans bytes, so it only works on charsets where the bytes of `<>/="'`, ASCII
letters and whitespace never occur inside a multi-byte character: single-byte ASCII
supersets, UTF-8, and the EUC/Shift_JIS/GBK/Big5 families (trail bytes >= 0x40). Pages in
UTF-16/32, UTF-7, ISO-2022-* or EBCDIC are not scanned as they are: the rewriter decodes them
and rewrites them as UTF-8 behind a UTF-8 BOM (fail closed: blocking and banner still apply).
So is a page whose Content-Type names no charset, sent on with `charset=utf-8`: the browser
then cannot re-decode it by a `<meta charset>` past the prescan (see `response.py`).
"""

from __future__ import annotations

import codecs
import re

from gateway.html.scanner import TAG, parse_attributes

#: Bytes of the first chunk the meta prescan looks at (HTML §13.2.3.2 step "prescan").
PRESCAN_BYTES = 1024

#: Decoding error handler for windows-1252: WHATWG Encoding maps the five bytes Python's cp1252
#: leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) to the C1 controls of the same value.
CP1252_ERRORS = "consentgate-cp1252"


def _whatwg_errors(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return error.object[error.start : error.end].decode("latin-1"), error.end


codecs.register_error(CP1252_ERRORS, _whatwg_errors)

# WHATWG Encoding §4.2: labels whose meaning differs from Python's codec of the same name.
_WHATWG: dict[str, str] = {
    **dict.fromkeys(
        "ascii us-ascii ansi_x3.4-1968 iso-8859-1 iso8859-1 iso88591 iso_8859-1 latin1 l1 "
        "cp819 ibm819 csisolatin1 iso-ir-100 windows-1252 x-cp1252 cp1252".split(),
        "cp1252",
    ),
    **dict.fromkeys("iso-8859-9 iso8859-9 latin5 l5 windows-1254".split(), "cp1254"),
    **dict.fromkeys("iso-8859-11 tis-620 windows-874 dos-874".split(), "cp874"),
    **dict.fromkeys("gb2312 gbk chinese csgb2312 x-gbk iso-ir-58 gb18030".split(), "gb18030"),
    **dict.fromkeys("big5 big5-hkscs cn-big5 csbig5 x-x-big5".split(), "big5hkscs"),
    **dict.fromkeys(
        "shift_jis shift-jis sjis x-sjis ms_kanji ms932 windows-31j csshiftjis".split(), "cp932"
    ),
    **dict.fromkeys("euc-kr ks_c_5601-1987 windows-949 cseuckr korean".split(), "cp949"),
    **dict.fromkeys("iso-8859-8-i csiso88598i logical".split(), "iso8859-8"),
    **dict.fromkeys(
        "unicode-1-1-utf-8 unicode11utf8 unicode20utf8 x-unicode20utf8".split(), "utf-8"
    ),
}

_SCANNABLE = re.compile(
    r"utf_8|ascii|latin_1|iso8859_\d+|cp12[5-9]\d|cp874|cp(?:437|737|775|85[0-8]|86[0-9])"
    r"|koi8_\w+|mac_\w+|kz1048|ptcp154|tis_620|cp932|cp949|cp950|shift_jis\w*|euc_\w+"
    r"|gb2312|gbk|gb18030|big5\w*"
)
_PROBE = "<>/=\"' \t\n\r\f!-?&;#abcxyzABCXYZ0123456789"

_META_CHARSET = re.compile(
    rb"charset[\t\n\f\r ]*=[\t\n\f\r ]*(?:\"([^\"]*)\"|'([^']*)'|([^\t\n\f\r ;\"']+))",
    re.IGNORECASE,
)


def codec_for_label(label: str) -> str | None:
    """Python codec name for a charset label (WHATWG spellings honoured), None if unknown."""
    key = label.strip().strip("\"'").lower()
    if not key:
        return None
    key = _WHATWG.get(key, key)
    try:
        return codecs.lookup(key).name
    except LookupError:
        return None


def is_scannable(codec: str) -> bool:
    """True when the byte scanner may rewrite text in `codec` (see module docstring)."""
    if not _SCANNABLE.fullmatch(codec.replace("-", "_").lower()):
        return False
    try:
        return _PROBE.encode(codec) == _PROBE.encode("ascii")
    except (LookupError, UnicodeError):
        return False


def charset_from_content_type(content_type: str) -> str | None:
    """The raw `charset` parameter of a Content-Type value (RFC 9110 §8.3.2), if any."""
    for param in content_type.split(";")[1:]:
        name, sep, value = param.partition("=")
        if sep and name.strip().lower() == "charset":
            return value.strip().strip('"').strip()
    return None


def sniff_bom(prefix: bytes) -> str | None:
    """Codec named by a byte-order mark at the start of the body (WHATWG Encoding §6 'decode')."""
    if prefix.startswith(b"\xef\xbb\xbf"):
        return "utf-8"
    if prefix.startswith(b"\xfe\xff"):
        return "utf-16-be"
    if prefix.startswith(b"\xff\xfe"):
        return "utf-16-le"
    return None


def bom_length(codec: str | None) -> int:
    """How many bytes the BOM for `codec` (as returned by `sniff_bom`) takes."""
    return {"utf-8": 3, "utf-16-be": 2, "utf-16-le": 2}.get(codec or "", 0)


def prescan_meta(prefix: bytes) -> str | None:
    """Codec declared by a `<meta>` in `prefix` (HTML §13.2.3.2 'prescan a byte stream').

    Returns the first recognised declaration; a declared UTF-16 means UTF-8 and
    x-user-defined means windows-1252, as the standard says.
    """
    buf = prefix[:PRESCAN_BYTES]
    pos = 0
    while (lt := buf.find(b"<", pos)) >= 0:
        if buf.startswith(b"<!--", lt):
            end = buf.find(b"-->", lt + 2)
            if end < 0:
                return None
            pos = end + 3
            continue
        m = TAG.match(buf, lt)
        if m is None:
            if buf.startswith((b"<!", b"</", b"<?"), lt):
                end = buf.find(b">", lt)
                if end < 0:
                    return None
                pos = end + 1
            else:
                pos = lt + 1
            continue
        if m.group(4) is None:
            return None
        pos = m.end()
        if m.group(1) or m.group(2).lower() != b"meta":
            continue
        codec = _meta_codec(dict(parse_attributes(m.group(3), "cp1252")))
        if codec is not None:
            return codec
    return None


def _meta_codec(attrs: dict[str, str]) -> str | None:
    label = attrs.get("charset")
    if label is None and attrs.get("http-equiv", "").strip().lower() == "content-type":
        found = _META_CHARSET.search(attrs.get("content", "").encode("cp1252", "replace"))
        if found:
            raw = next(g for g in found.groups() if g is not None)
            label = raw.decode("ascii", "replace")
    if label is None:
        return None
    if label.strip().lower() == "x-user-defined":
        return "cp1252"
    codec = codec_for_label(label)
    if codec is not None and codec.startswith("utf-16"):
        return "utf-8"
    return codec
