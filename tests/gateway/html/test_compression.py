"""Content-coding: negotiation, bounded incremental decoding, streaming encoding, bombs."""

from __future__ import annotations

import gzip
import struct
import tracemalloc
import zlib

import brotli
import pytest

from gateway.html.compression import (
    PIECE,
    CorruptBody,
    DecodedBodyTooLarge,
    make_decoder,
    make_encoder,
    negotiate,
    parse_content_encoding,
)

GIB = 1 << 30
MIB = 1 << 20


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, None),
        ("", None),
        ("gzip, deflate, br, zstd", "br"),
        ("gzip", "gzip"),
        ("x-gzip", "gzip"),
        ("GZIP;q=0.5, BR;q=0.1", "br"),  # br is preferred whenever acceptable
        ("br;q=0, gzip", "gzip"),  # RFC 9110 §12.5.3: q=0 means "not acceptable"
        ("br;q=0.000, gzip;q=0", None),
        ("*", "br"),
        ("*;q=0", None),
        ("*, br;q=0", "gzip"),
        ("identity", None),
        ("deflate", None),
        ("gzip;q=abc", None),  # a malformed weight is no promise
        (" , br ; q=1 ,", "br"),
    ],
)
def test_negotiate(accept: str | None, expected: str | None) -> None:
    assert negotiate(accept) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        ("", []),
        ("identity", []),
        ("gzip", ["gzip"]),
        ("X-Gzip", ["gzip"]),
        ("deflate, br", ["deflate", "br"]),
        ("zstd", None),
        ("gzip, compress", None),
    ],
)
def test_parse_content_encoding(value: str | None, expected: list[str] | None) -> None:
    assert parse_content_encoding(value) == expected


PAGE = b"<html><body>" + b"<p>Umbrellas and raincoats</p>" * 3000 + b"</body></html>"


def _raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


@pytest.mark.parametrize(
    ("codings", "encoded"),
    [
        (["gzip"], gzip.compress(PAGE, mtime=0)),
        # RFC 1952 §2.2: several members, then zero padding (ignored).
        (
            ["gzip"],
            gzip.compress(PAGE[:1000], mtime=0) + gzip.compress(PAGE[1000:], mtime=0) + b"\0" * 8,
        ),
        (["deflate"], zlib.compress(PAGE)),
        (["deflate"], _raw_deflate(PAGE)),  # what some servers send as "deflate"
        (["br"], brotli.compress(PAGE)),
        (["gzip", "br"], brotli.compress(gzip.compress(PAGE, mtime=0))),
    ],
    # Test ids name the codings: the encoded bytes would make ids that differ between runs
    # (gzip writes the time), which parallel workers cannot agree on.
    ids=["gzip", "gzip-members", "zlib", "raw-deflate", "br", "gzip-br"],
)
@pytest.mark.parametrize("step", [1, 7, 4096, 1 << 20])
def test_decoders_round_trip_in_bounded_pieces(
    codings: list[str], encoded: bytes, step: int
) -> None:
    decoder = make_decoder(codings, max_decoded_bytes=len(PAGE))
    cut = [encoded[i : i + step] for i in range(0, len(encoded), step)]
    pieces = [p for chunk in cut for p in decoder.decode(chunk)]
    assert b"".join(pieces) == PAGE
    # zlib stops exactly at PIECE; brotli's output_buffer_limit stops growth past it.
    assert max(map(len, pieces)) <= (2 * PIECE if "br" in codings else PIECE)


def test_one_byte_over_the_bound_aborts() -> None:
    decoder = make_decoder(["gzip"], max_decoded_bytes=len(PAGE) - 1)
    with pytest.raises(DecodedBodyTooLarge):
        list(decoder.decode(gzip.compress(PAGE)))


@pytest.mark.parametrize(
    ("codings", "data"),
    [
        (["gzip"], b"not gzip at all"),
        (["br"], b"\xff\xff\xff\xff not brotli"),
        (["deflate"], zlib.compress(PAGE)[:20] + b"\xff" * 50),
    ],
)
def test_corrupt_bodies_raise(codings: list[str], data: bytes) -> None:
    with pytest.raises(CorruptBody):
        list(make_decoder(codings, max_decoded_bytes=GIB).decode(data))


@pytest.mark.parametrize("coding", ["gzip", "br", None])
def test_encoders_flush_every_chunk(coding: str | None) -> None:
    enc = make_encoder(coding)
    first = enc.compress(PAGE[:500])
    assert first  # something leaves for each chunk, not only at the end
    body = first + enc.compress(PAGE[500:]) + enc.finish()
    decoded = {"gzip": gzip.decompress, "br": brotli.decompress, None: bytes}[coding](body)
    assert decoded == PAGE
    if coding:
        # The flushed prefix alone already decodes to the first chunk.
        dec = make_decoder([coding], max_decoded_bytes=GIB)
        assert b"".join(dec.decode(first)) == PAGE[:500]


# -- compression bombs --------------------------------------------------------------------


def gzip_bomb(size: int) -> bytes:
    """A single-member gzip of `size` zero bytes, built in milliseconds.

    After Z_FULL_FLUSH the compressor forgets its history, so the compressed form of 1 MiB
    of zeros can be repeated.
    """
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = c.compress(bytes(MIB)) + c.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    zeros = bytes(MIB)
    for _ in range(size // MIB):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc, size & 0xFFFFFFFF)
    return header + block * (size // MIB) + b"\x03\x00" + trailer


def test_gzip_bomb_helper_makes_valid_gzip() -> None:
    assert gzip.decompress(gzip_bomb(8 * MIB)) == bytes(8 * MIB)


def _peak_while(fn: object) -> int:
    tracemalloc.start()
    try:
        fn()  # type: ignore[operator]
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("step", [64 * 1024, 1 << 20])
def test_1gb_gzip_bomb_is_stopped_with_bounded_memory(step: int) -> None:
    bomb = gzip_bomb(GIB)
    assert len(bomb) < 2 * MIB

    def consume() -> None:
        decoder = make_decoder(["gzip"], max_decoded_bytes=8 * MIB)
        with pytest.raises(DecodedBodyTooLarge):
            for i in range(0, len(bomb), step):
                for _ in decoder.decode(bomb[i : i + step]):
                    pass

    # Nowhere near 1 GiB: the input chunk, one output piece and zlib's window.
    assert _peak_while(consume) < 4 * MIB


def test_1gb_brotli_bomb_is_stopped_with_bounded_memory() -> None:
    c = brotli.Compressor(quality=1)
    zeros = bytes(MIB)
    bomb = b"".join(c.process(zeros) for _ in range(GIB // MIB)) + c.finish()

    def consume() -> None:
        decoder = make_decoder(["br"], max_decoded_bytes=8 * MIB)
        with pytest.raises(DecodedBodyTooLarge):
            for _ in decoder.decode(bomb):
                pass

    assert _peak_while(consume) < 4 * MIB
