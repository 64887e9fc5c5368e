"""Whether a response is a page the browser will parse as HTML, decided as the browser decides.

A page the gateway does not recognise as HTML streams through unscanned, so the test must never
be narrower than the browser's: the *last* valid type among every `Content-Type` field wins
(Fetch §3.1.5 "extract a MIME type": values are combined and split on commas), XHTML counts,
and a response with no usable type is sniffed from its first bytes (MIME Sniffing §7.1, "rules
for identifying an unknown MIME type", the HTML and XML patterns).
"""

from __future__ import annotations

from collections.abc import Iterable

Field = tuple[bytes, bytes]

#: Media types a browser renders as a document that runs scripts and loads subresources.
PAGE_TYPES = frozenset({b"text/html", b"application/xhtml+xml"})
#: MIME Sniffing §7.1: these (and no type at all) mean "unknown": the browser sniffs.
UNKNOWN_TYPES = frozenset({b"unknown/unknown", b"application/unknown", b"*/*"})
#: Bytes the browser sniffs (MIME Sniffing §5.2: the resource header is at most 1,445 bytes).
SNIFF_BYTES = 1445

_WHITESPACE = b"\t\n\x0c\r "
_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
# MIME Sniffing §7.1 step 1: each followed by a tag-terminating byte (space or ">").
_HTML_PATTERNS = (
    b"<!doctype html",
    b"<html",
    b"<head",
    b"<script",
    b"<iframe",
    b"<h1",
    b"<div",
    b"<font",
    b"<table",
    b"<a",
    b"<style",
    b"<title",
    b"<b",
    b"<body",
    b"<br",
    b"<p",
    b"<!--",
)


def content_type(fields: Iterable[Field]) -> bytes | None:
    """The `Content-Type` a browser acts on: the last valid one across every such field.

    None when there is none, or none parses as `type/subtype` (the browser then sniffs).
    """
    values = [value for name, value in fields if name.lower() == b"content-type"]
    if not values:
        return None
    found: bytes | None = None
    for item in _split_commas(b",".join(values)):
        essence = essence_of(item)
        if essence and essence != b"*/*":
            found = item.strip()
    return found


def essence_of(value: bytes | None) -> bytes:
    """`Text/HTML; charset=utf-8` -> `text/html`; empty when not a valid `type/subtype`."""
    if value is None:
        return b""
    essence = value.split(b";", 1)[0].strip(_WHITESPACE).lower()
    kind, slash, subtype = essence.partition(b"/")
    if not slash or not kind or not subtype:
        return b""
    if not all(byte in _TOKEN for byte in kind) or not all(byte in _TOKEN for byte in subtype):
        return b""
    return essence


def needs_sniffing(value: bytes | None) -> bool:
    """True when the browser would sniff the body to find its type."""
    essence = essence_of(value)
    return not essence or essence in UNKNOWN_TYPES


def sniffs_as_page(head: bytes) -> bool:
    """True if a body starting with `head` sniffs as HTML, or as XML (which may be XHTML)."""
    start = head.lstrip(_WHITESPACE)
    if start.startswith(b"<?xml"):
        return True
    lowered = start[:16].lower()
    for pattern in _HTML_PATTERNS:
        if lowered.startswith(pattern):
            after = start[len(pattern) : len(pattern) + 1]
            if after in (b" ", b">"):
                return True
    return False


def _split_commas(value: bytes) -> list[bytes]:
    """Split on commas outside double quotes (Fetch's "get, decode, and split")."""
    parts: list[bytes] = []
    current = bytearray()
    quoted = False
    for byte in value:
        if byte == 0x22:
            quoted = not quoted
        if byte == 0x2C and not quoted:
            parts.append(bytes(current))
            current.clear()
        else:
            current.append(byte)
    parts.append(bytes(current))
    return parts
