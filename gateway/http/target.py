"""Request-target checks and the upstream URL (pure; no I/O).

The gateway is not an open proxy: the upstream origin comes only from config and the client's
raw path is appended to it byte-for-byte, never resolved with urljoin (so `//evil`, `/@evil` and
`/sub:path` stay paths on the configured upstream). Before that, a path that *resolves* into
the reserved prefix under any decoding a server might apply is refused.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import unquote_to_bytes

# RFC 9110 §9.3.6/§9.3.8: CONNECT would make us a tunnel, TRACE echoes credentials (XST).
FORBIDDEN_METHODS: frozenset[str] = frozenset({"CONNECT", "TRACE", "TRACK"})
ALLOWED_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"

# RFC 9112 §3.2 origin-form: a path starting with "/", no whitespace, controls or fragment.
_ORIGIN_FORM = re.compile(rb"/[^\x00-\x20\x7f#]*\Z")
_BAD_QUERY = re.compile(rb"[\x00-\x20\x7f#]")
_MAX_DECODE_ROUNDS = 4


class Rejection(NamedTuple):
    """Why a request is answered by the gateway instead of the upstream."""

    status: int
    reason: str


def check(method: str, raw_path: bytes, query_string: bytes, prefix: str) -> Rejection | None:
    """None if the request may go upstream, else the status and reason to answer with."""
    if method in FORBIDDEN_METHODS:
        return Rejection(405, f"{method} is not allowed through this gateway")
    if _ORIGIN_FORM.match(raw_path) is None or _BAD_QUERY.search(query_string) is not None:
        return Rejection(400, "the request target must be a path")
    if resolves_into(raw_path, prefix):
        return Rejection(400, "the path resolves into the gateway's reserved prefix")
    return None


def resolves_into(raw_path: bytes, prefix: str) -> bool:
    """True if `raw_path`, decoded the way any upstream might, lands in `prefix` or below.

    Decodes percent-escapes repeatedly (double encoding), reads `\\` as `/` (IIS, WHATWG),
    drops `;params` from segments (Tomcat), collapses empty segments, resolves dot-segments
    (RFC 3986 §5.2.4) and compares case-insensitively (case-folding servers).
    """
    path = raw_path
    for _ in range(_MAX_DECODE_ROUNDS):
        decoded = unquote_to_bytes(path)
        if decoded == path:
            break
        path = decoded
    text = path.decode("latin-1").replace("\\", "/").lower()
    segments: list[str] = []
    for raw_segment in text.split("/"):
        segment = raw_segment.split(";", 1)[0].split("\x00", 1)[0]
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    reserved = [s for s in prefix.lower().split("/") if s]
    return segments[: len(reserved)] == reserved


def upstream_url(base: str, raw_path: bytes, query_string: bytes) -> str:
    """`base` (the configured `scheme://host[:port][/path]`) + raw path + `?query`, unparsed.

    The client's bytes reach the shop as received (`wire_text`); only bytes that are not
    UTF-8 are percent-encoded, the one form in which the upstream client can carry them.
    """
    url = base + _target_text(raw_path)
    if query_string:
        url += "?" + _target_text(query_string)
    return url


def wire_text(raw: bytes) -> str | None:
    """The text the upstream client (aiohttp, which writes a request head as UTF-8) turns back
    into exactly `raw`; None when no text does (bytes that are not UTF-8).

    Decoding as latin-1 instead would send `é` (C3 A9) on as C3 83 C2 A9: double-encoded.
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _target_text(raw: bytes) -> str:
    text = wire_text(raw)
    if text is not None:
        return text
    # RFC 3986 §2.1: a byte outside the URI character set is sent percent-encoded; a server
    # that decodes the path sees the same bytes the client sent.
    return "".join(chr(b) if b < 0x80 else f"%{b:02X}" for b in raw)
