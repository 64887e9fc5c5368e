"""rewrite_html: the async edge that decodes, rewrites and re-encodes a streamed body."""

from __future__ import annotations

import asyncio
import gzip
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Iterable

import brotli
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.html import DecodedBodyTooLarge, HtmlRewrite, SlotFill, rewrite_html

PAGE = (
    b"<!doctype html><html><head><meta charset=utf-8><title>Shop</title></head><body>"
    + b"<p>Products</p>" * 200
    + b'<div data-slot="hero">placeholder</div><p>footer</p></body></html>'
)
FILLED = PAGE.replace(b"placeholder", "Regen in London ☔".encode())


async def chunks(parts: Iterable[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def rewrite(
    parts: Iterable[bytes],
    *,
    content_type: str = "text/html; charset=utf-8",
    content_encoding: str | None = None,
    accept_encoding: str | None = None,
    max_decoded_bytes: int = 1 << 20,
) -> HtmlRewrite | None:
    return rewrite_html(
        chunks(parts),
        content_type=content_type,
        content_encoding=content_encoding,
        accept_encoding=accept_encoding,
        stages=[SlotFill({"hero": "Regen in London ☔"})],
        max_decoded_bytes=max_decoded_bytes,
    )


async def collect(body: AsyncIterator[bytes]) -> bytes:
    return b"".join([c async for c in body])


@pytest.mark.parametrize(
    ("content_type", "content_encoding"),
    [
        ("application/json", None),
        ("text/htmlx", None),
        ("application/xhtml+xml", None),
        ("text/html", "zstd"),  # unknown coding: pass through untouched
        ("text/html", "gzip, compress"),
    ],
)
def test_not_rewritten(content_type: str, content_encoding: str | None) -> None:
    assert rewrite([PAGE], content_type=content_type, content_encoding=content_encoding) is None


@pytest.mark.parametrize(
    ("content_encoding", "encode"),
    [
        (None, bytes),
        ("identity", bytes),
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("br", brotli.compress),
    ],
)
@pytest.mark.parametrize(
    ("accept", "sent", "decode"),
    [
        (None, None, bytes),
        ("gzip, deflate, br", "br", brotli.decompress),
        ("gzip;q=0.8, br;q=0", "gzip", gzip.decompress),
        ("*;q=0", None, bytes),
    ],
)
def test_decode_rewrite_encode(
    content_encoding: str | None,
    encode: object,
    accept: str | None,
    sent: str | None,
    decode: object,
) -> None:
    upstream = encode(PAGE)  # type: ignore[operator]
    result = rewrite(
        split(upstream, 333), content_encoding=content_encoding, accept_encoding=accept
    )
    assert result is not None
    assert result.content_encoding == sent
    body = asyncio.run(collect(result.body))
    assert decode(body) == FILLED  # type: ignore[operator]


def test_unknown_charset_label_is_ignored_and_meta_decides() -> None:
    page = '<meta charset="windows-1256"><div data-slot="hero">ب</div>'.encode("cp1256")
    result = rewrite([page], content_type="text/html; charset=klingon")
    assert result is not None
    body = asyncio.run(collect(result.body))
    # The <meta> decides how the page is read; it is written as UTF-8, and the header says so.
    assert result.content_type == "text/html; charset=utf-8"
    filled = '<meta charset="windows-1256"><div data-slot="hero">Regen in London ☔</div>'
    assert body == b"\xef\xbb\xbf" + filled.encode("utf-8")


@pytest.mark.parametrize(
    ("page", "text"),
    [
        # HTML §13.2.3.2: nothing declared: windows-1252.
        (b"<p>caf\xe9</p>", "café"),
        # The prescan's <meta> within the first 1,024 bytes.
        (b'<meta charset="koi8-r"><p>\xc4\xc1</p>', "да"),
        # A <meta> past the prescan is what a browser would re-decode by: not followed, and
        # the header's charset=utf-8 makes the browser ignore it too.
        (b"<!--" + b"x" * 1100 + b'--><meta charset="iso-2022-jp"><p>\x1b$B</p>', "\x1b$B"),
    ],
)
def test_a_page_without_a_header_charset_is_written_as_utf8_and_says_so(
    page: bytes, text: str
) -> None:
    result = rewrite([page], content_type="text/html")
    assert result is not None
    assert result.content_type == "text/html; charset=utf-8"
    body = asyncio.run(collect(result.body)).removeprefix(b"\xef\xbb\xbf")
    assert text in body.decode("utf-8")


@given(
    st.binary(max_size=200),
    st.integers(0, 1500),
    st.sampled_from(["iso-2022-jp", "utf-16", "utf-16be", "shift_jis", "x-user-defined", "koi8-r"]),
    st.sampled_from(
        ['<meta charset="{}">', '<meta http-equiv=content-type content="; charset={}">']
    ),
    st.sampled_from(["text/html", "text/html; charset=klingon"]),
)
def test_the_header_names_the_charset_the_page_was_read_in(
    text: bytes, padding: int, label: str, meta: str, content_type: str
) -> None:
    """Early or late, whatever it names: the browser gets the charset the scanner read in the
    header, which outranks any <meta> (HTML §13.2.3.1), and no BOM but UTF-8's, which would
    outrank the header."""
    page = b"<!--" + b"p" * padding + b"-->" + meta.format(label).encode() + text
    result = rewrite([page], content_type=content_type)
    assert result is not None
    assert result.content_type == "text/html; charset=utf-8"
    body = asyncio.run(collect(result.body))
    assert not body.startswith((b"\xfe\xff", b"\xff\xfe"))


def test_first_bytes_leave_before_upstream_finishes() -> None:
    received: list[bytes] = []
    seen_when_asked_for_more: list[int] = []

    async def upstream() -> AsyncIterator[bytes]:
        yield PAGE[:2000]
        seen_when_asked_for_more.append(len(received))
        yield PAGE[2000:]

    async def main() -> None:
        result = rewrite_html(
            upstream(),
            content_type="text/html; charset=utf-8",
            content_encoding=None,
            accept_encoding="gzip",
            stages=[],
            max_decoded_bytes=1 << 20,
        )
        assert result is not None
        async for chunk in result.body:
            received.append(chunk)

    asyncio.run(main())
    # The pipeline handed out output for the first chunk before pulling the second one.
    assert seen_when_asked_for_more == [1]
    assert gzip.decompress(b"".join(received)) == PAGE


def test_gzip_bomb_aborts_the_stream_with_bounded_memory() -> None:
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = c.compress(bytes(1 << 20)) + c.flush(zlib.Z_FULL_FLUSH)
    # A 1 GiB-of-zeros gzip member (trailer irrelevant: the stream stops long before it).
    bomb = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + block * 1024 + b"\x03\x00" + bytes(8)
    result = rewrite(
        split(bomb, 1 << 16),
        content_encoding="gzip",
        accept_encoding="br",
        max_decoded_bytes=4 << 20,
    )
    assert result is not None

    async def consume() -> int:
        produced = 0
        with pytest.raises(DecodedBodyTooLarge):
            async for chunk in result.body:
                produced += len(chunk)
        return produced

    tracemalloc.start()
    try:
        asyncio.run(consume())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


def test_upstream_is_closed_when_the_client_goes_away() -> None:
    closed: list[bool] = []

    async def upstream() -> AsyncIterator[bytes]:
        try:
            for part in split(PAGE, 100):
                yield part
        finally:
            closed.append(True)

    async def main() -> None:
        result = rewrite_html(
            upstream(),
            content_type="text/html; charset=utf-8",
            content_encoding=None,
            accept_encoding=None,
            stages=[],
            max_decoded_bytes=1 << 20,
        )
        assert result is not None
        body = result.body
        assert await body.__anext__()
        await body.aclose()  # type: ignore[attr-defined]

    asyncio.run(main())
    assert closed == [True]


@pytest.mark.parametrize("label", ["utf-16", "UTF-16LE", "utf-16be", "UTF-32BE", "iso-2022-jp"])
def test_unscannable_charset_is_rewritten_as_utf8(label: str) -> None:
    codec = {"utf-16": "utf-16-le"}.get(label, label)
    page = '<div data-slot="hero">x</div><p>雨</p>'.encode(codec)
    result = rewrite([page[:7], page[7:]], content_type=f"text/html; charset={label}")
    assert result is not None and result.content_type == "text/html; charset=utf-8"
    out = asyncio.run(collect(result.body))
    assert out == '\ufeff<div data-slot="hero">Regen in London ☔</div><p>雨</p>'.encode()


def test_scannable_charset_keeps_its_content_type() -> None:
    result = rewrite([PAGE], content_type="text/html; charset=utf-8")
    assert result is not None and result.content_type is None


@pytest.mark.parametrize("chunk", [1, 1000, 4096, 5000, 70_000, 300_000])
def test_a_long_page_comes_out_whole_however_upstream_chunks_it(chunk: int) -> None:
    page = b"<html><body>" + b"".join(b"<p>%06d</p>" % i for i in range(20_000)) + b"</body>"
    parts = [page[i : i + chunk] for i in range(0, len(page), chunk)]
    result = rewrite(parts, content_type="text/html; charset=utf-8")
    assert result is not None
    assert asyncio.run(collect(result.body)) == page
