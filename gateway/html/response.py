"""The async edge of the HTML pipeline: decode, rewrite, re-encode a streamed body."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from gateway.html.charset import charset_from_content_type, codec_for_label, is_scannable
from gateway.html.compression import (
    Decoder,
    Encoder,
    make_decoder,
    make_encoder,
    negotiate,
    parse_content_encoding,
)
from gateway.html.rewriter import HtmlRewriter
from gateway.html.stage import Stage

#: Bytes rewritten before the first output is sent, and per send after that.
FIRST_SLICE = 4 * 1024
SLICE = 32 * 1024


@dataclass
class HtmlRewrite:
    """A rewritten body, the Content-Encoding to announce for it (None = identity), and the
    Content-Type to send instead of upstream's (None: unchanged)."""

    content_encoding: str | None
    body: AsyncIterator[bytes]
    content_type: str | None = None


def rewrite_html(
    body: AsyncIterator[bytes],
    *,
    content_type: str,
    content_encoding: str | None,
    accept_encoding: str | None,
    stages: Sequence[Stage],
    max_decoded_bytes: int,
) -> HtmlRewrite | None:
    """Stream an upstream `text/html` body through `stages`, or None to pass it through.

    None when the type is not text/html or the Content-Encoding is unknown. The result's
    `content_type` always names the charset the scanner read the page in, so the browser reads
    the same characters (a header charset beats a BOM-less page's `<meta>`, HTML §13.2.3.1): a
    page in a charset the byte scanner cannot read (UTF-16, ISO-2022-JP …), or whose header
    names none, is rewritten as UTF-8 (see `HtmlRewriter.transcoded`) and announced as
    `charset=utf-8`. The caller applies it to 2xx responses,
    drops Content-Length (the length changes) and sends `content_encoding`. Iterating the
    body raises `BodyDecodeError` (e.g. `DecodedBodyTooLarge` past `max_decoded_bytes` of a
    content-coded body); the proxy then closes the connection.
    """
    if content_type.partition(";")[0].strip().lower() != "text/html":
        return None
    codings = parse_content_encoding(content_encoding)
    if codings is None:
        return None
    label = charset_from_content_type(content_type)
    # WHATWG Encoding §4.2: an unknown label is ignored (the page's <meta> then decides).
    codec = codec_for_label(label) if label else None
    # The header goes out before the body is read: it cannot wait for the scanner's choice, so
    # when the header names no charset the scanner is made to write what it says: UTF-8.
    utf8 = codec is None or not is_scannable(codec)
    new_type = "text/html; charset=utf-8" if utf8 else None
    rewriter = HtmlRewriter(stages, charset=codec, to_utf8=codec is None)
    coding = negotiate(accept_encoding)
    stream = _stream(body, make_decoder(codings, max_decoded_bytes), rewriter, make_encoder(coding))
    return HtmlRewrite(content_encoding=coding, body=stream, content_type=new_type)


async def _stream(
    body: AsyncIterator[bytes], decoder: Decoder, rewriter: HtmlRewriter, encoder: Encoder
) -> AsyncIterator[bytes]:
    # Time to first byte: the first bytes go out after a small slice is rewritten, not after
    # the whole first upstream read (64 KiB or more); later slices are larger (fewer sends).
    size = FIRST_SLICE
    try:
        async for chunk in body:
            for piece in decoder.decode(chunk):
                start = 0
                while start < len(piece):
                    out = encoder.compress(rewriter.feed(piece[start : start + size]))
                    start += size
                    if out:
                        yield out
                        size = SLICE
        tail = encoder.compress(rewriter.close()) + encoder.finish()
        if tail:
            yield tail
    finally:
        aclose = getattr(body, "aclose", None)
        if aclose is not None:
            await aclose()
