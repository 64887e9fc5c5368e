"""Incremental, size-bounded content decoding and streaming re-encoding of a body.

Decoders never produce more than about `PIECE` bytes per step however small the input
(exactly for zlib; brotli stops growing its buffer past it), so a compression bomb costs at
most about one piece of memory before `max_decoded_bytes` stops it.
Encoders sync-flush after every chunk so each one reaches the client while upstream is still
sending.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Protocol

import brotli

#: Largest output of one decoding step.
PIECE = 64 * 1024
#: gzip level 5 / brotli quality 4: the usual speed-for-size points for dynamic HTML.
GZIP_LEVEL = 5
BROTLI_QUALITY = 4


class BodyDecodeError(Exception):
    """The upstream body cannot be decoded; the proxy must close the connection."""


class DecodedBodyTooLarge(BodyDecodeError):
    """The decoded body grew past `max_decoded_bytes` (e.g. a compression bomb)."""


class CorruptBody(BodyDecodeError):
    """The body is not valid data in its declared Content-Encoding."""


class Decoder(Protocol):
    """Turns a content-coded stream back into bytes, one bounded piece at a time."""

    def decode(self, data: bytes) -> Iterator[bytes]:
        """Yield the decoded pieces (each about `PIECE` bytes at most) that `data` completes."""
        ...


class Encoder(Protocol):
    """Content-codes a stream for the client."""

    def compress(self, data: bytes) -> bytes:
        """Code `data` and flush, so the result is decodable up to here."""
        ...

    def finish(self) -> bytes:
        """End the coded stream."""
        ...


def parse_content_encoding(value: str | None) -> list[str] | None:
    """The codings of a Content-Encoding value in the order applied; None if any is unknown.

    RFC 9110 §8.4: codings are listed in the order they were applied; `identity` is a no-op.
    """
    codings = []
    for token in (value or "").split(","):
        coding = token.strip().lower()
        if coding in ("", "identity"):
            continue
        if coding == "x-gzip":  # RFC 9110 §8.4.1.3: x-gzip is an alias of gzip
            coding = "gzip"
        if coding not in ("gzip", "deflate", "br"):
            return None
        codings.append(coding)
    return codings


def negotiate(accept_encoding: str | None) -> str | None:
    """The coding for the client: br if acceptable, else gzip, else None (identity).

    RFC 9110 §12.5.3: a coding with q=0 is not acceptable; `*` covers codings not listed;
    a missing header means no preference, and we then send identity.
    """
    if not accept_encoding:
        return None
    weights = _weights(accept_encoding)
    star = weights.get("*", 0.0)
    for coding in ("br", "gzip"):
        if weights.get(coding, star) > 0:
            return coding
    return None


#: The codings the gateway can decode, in the order offered to the upstream.
DECODABLE = ("br", "gzip", "deflate")


def upstream_accept_encoding(client: str | None) -> str:
    """The `Accept-Encoding` to send upstream: the client's codings that the gateway can
    decode, else `identity`.

    A page the gateway cannot decode cannot be checked for trackers, so the upstream is never
    offered a coding outside `DECODABLE` (zstd, compress, ...), whatever the client accepts;
    and never one the client refused, since non-page responses pass through as they come.
    """
    weights = _weights(client or "")
    star = weights.get("*", 0.0)
    offered = [coding for coding in DECODABLE if weights.get(coding, star) > 0]
    return ", ".join(offered) if offered else "identity"


def _weights(accept_encoding: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        coding, *params = (p.strip() for p in item.split(";"))
        coding = coding.lower()
        if not coding:
            continue
        q = 1.0
        for param in params:
            key, _, raw = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(raw.strip())
                except ValueError:
                    q = 0.0  # a malformed weight is not a promise to accept
        if coding == "x-gzip":
            coding = "gzip"
        weights.setdefault(coding, q)
    return weights


class _Zlib:
    """gzip (multi-member, RFC 1952 §2.2) or deflate (zlib-wrapped, or raw as some servers send)."""

    def __init__(self, gzip: bool) -> None:
        self._gzip = gzip
        self._d: zlib._Decompress | None = None
        self._head = b""  # the first bytes of a stream or member, until its kind is known
        self._done = False

    def _start(self, data: bytes) -> bytes | None:
        """Open the next stream/member once two bytes show what it is; None: need more."""
        data = self._head + data
        if len(data) < 2:
            self._head = data
            return None
        self._head = b""
        if self._gzip:
            if self._d is not None and not data.startswith(b"\x1f\x8b"):
                # RFC 1952 §2.2 allows further members; padding or junk after the last one
                # is ignored, as browsers do.
                self._done = True
                return None
            self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        else:
            # RFC 9110 §8.4.1.2 says zlib format; raw deflate is accepted as browsers do.
            cmf, flg = data[0], data[1]
            wrapped = cmf & 0x0F == 8 and (cmf << 8 | flg) % 31 == 0
            self._d = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        return data

    def decode(self, data: bytes) -> Iterator[bytes]:
        while not self._done:
            if self._d is None or self._d.eof:
                if self._d is not None and not self._gzip:
                    self._done = True  # bytes after the end of a deflate stream are ignored
                    return
                started = self._start(data)
                if started is None:
                    return
                data = started
            d = self._d
            assert d is not None
            try:
                out = d.decompress(data, PIECE)
            except zlib.error as exc:
                raise CorruptBody(str(exc)) from None
            if out:
                yield out
            if d.eof:
                data = d.unused_data
                if not data:
                    return
                continue
            data = d.unconsumed_tail
            if not data and len(out) < PIECE:
                return


class _Brotli:
    def __init__(self) -> None:
        self._d = brotli.Decompressor()

    def decode(self, data: bytes) -> Iterator[bytes]:
        try:
            if self._d.is_finished():
                return  # bytes after the end of the stream are ignored
            out = self._d.process(data, output_buffer_limit=PIECE)
            while True:
                if out:
                    yield out
                # brotli >= 1.2: with a limit, keep pulling with empty input until it can
                # accept more data (the fix for the unbounded-output CVE-2025-6176).
                if self._d.can_accept_more_data() or self._d.is_finished():
                    return
                out = self._d.process(b"", output_buffer_limit=PIECE)
        except brotli.error as exc:
            raise CorruptBody(str(exc)) from None


class _Chain:
    """Undo codings applied in order (the last applied is undone first), with a size cap."""

    def __init__(self, codings: list[str], max_decoded_bytes: int) -> None:
        self._decoders: list[Decoder] = [
            _Brotli() if c == "br" else _Zlib(gzip=c == "gzip") for c in reversed(codings)
        ]
        self._limit = max_decoded_bytes
        self._total = 0

    def decode(self, data: bytes) -> Iterator[bytes]:
        for piece in self._through(0, data):
            self._total += len(piece)
            if self._total > self._limit:
                raise DecodedBodyTooLarge(f"decoded body exceeds {self._limit} bytes")
            yield piece

    def _through(self, i: int, data: bytes) -> Iterator[bytes]:
        if i == len(self._decoders):
            yield data
            return
        for piece in self._decoders[i].decode(data):
            yield from self._through(i + 1, piece)


class _Identity:
    def decode(self, data: bytes) -> Iterator[bytes]:
        if data:
            yield data

    def compress(self, data: bytes) -> bytes:
        return data

    def finish(self) -> bytes:
        return b""


def make_decoder(codings: list[str], max_decoded_bytes: int) -> Decoder:
    """A decoder undoing `codings` (from `parse_content_encoding`), capped when coded."""
    if not codings:
        return _Identity()  # plain bodies stream as they come; nothing can amplify them
    return _Chain(codings, max_decoded_bytes)


class _GzipEncoder:
    def __init__(self) -> None:
        self._c = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)

    def compress(self, data: bytes) -> bytes:
        if not data:
            return b""
        return self._c.compress(data) + self._c.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        return self._c.flush(zlib.Z_FINISH)


class _BrotliEncoder:
    def __init__(self) -> None:
        self._c = brotli.Compressor(quality=BROTLI_QUALITY, mode=brotli.MODE_TEXT)

    def compress(self, data: bytes) -> bytes:
        if not data:
            return b""
        out: bytes = self._c.process(data) + self._c.flush()
        return out

    def finish(self) -> bytes:
        out: bytes = self._c.finish()
        return out


def make_encoder(coding: str | None) -> Encoder:
    """An encoder for `coding` as returned by `negotiate` (None: identity)."""
    if coding == "br":
        return _BrotliEncoder()
    if coding == "gzip":
        return _GzipEncoder()
    return _Identity()
