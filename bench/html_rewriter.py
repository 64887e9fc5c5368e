"""Micro benchmark of the streaming HTML rewriter (not a test).

Rewrites a ~60 KB realistic shop page with two `data-slot` elements filled, fed in 8 KiB
chunks as from upstream, and prints MB/s. For comparison: the same with a stage that also
inspects every script/iframe/img (what prior blocking will add), the whole pipeline with
gzip in and brotli out, the standard library's `html.parser` just tokenizing, and a full
DOM parse + fill + serialize with selectolax (lexbor) if it is installed. The inspecting row is
run twice: on the native scanner (`gateway/html/_fastscan.c`) and on the regexes it mirrors.

    python bench/html_rewriter.py [--seconds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import sys
import time
from collections.abc import AsyncIterator, Callable
from html.parser import HTMLParser
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.html import HtmlRewriter, SlotFill, Stage, StartTag, rewrite_html  # noqa: E402

FILL = {
    "hero-banner": '<section class="hero"><h2>Rain in London? Umbrellas −20 %</h2></section>',
    "recommendations": "<ul>" + "".join(f"<li>Item {i}</li>" for i in range(8)) + "</ul>",
}
CHUNK = 8192


def shop_page() -> bytes:
    """A storefront page shaped like real ones: head scripts, nav, SVG icons, a product grid."""
    head = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Umbrella Shop — Rainwear &amp; more</title>"
        '<link rel="stylesheet" href="/static/app.css?v=3">'
        '<script async src="https://www.googletagmanager.com/gtag/js?id=G-123"></script>'
        "<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}"
        "if (a < b && c > d) { gtag('js', new Date()); } var s='</div>';</script>"
        "<style>.card>a{color:#333}.grid{display:grid}</style></head><body>"
    )
    nav = (
        '<header class="site"><nav><ul>'
        + "".join(f'<li><a href="/c/{i}" class="nav-link">Category {i}</a></li>' for i in range(12))
        + '</ul><svg viewBox="0 0 24 24" class="icon"><path d="M12 2L2 7l10 5 10-5z"/></svg>'
        "</nav></header>"
        '<div data-slot="hero-banner" class="hero"><p>Welcome to the shop</p></div><main>'
    )
    card = (
        '<div class="card" data-id="{i}"><a href="/p/{i}" title="Product {i} &gt; details">'
        '<img src="/img/p{i}.jpg" alt="Umbrella {i}" width="300" height="300" loading="lazy">'
        '<h3 class="title">Umbrella model {i}</h3></a>'
        '<p class="price"><span class="cur">£</span>{i}9.99</p>'
        '<button type="button" class="btn add" data-sku="SKU-{i}">Add to cart</button>'
        "<!-- card {i} --></div>"
    )
    grid = '<section class="grid">' + "".join(card.format(i=i) for i in range(165)) + "</section>"
    tail = (
        '<aside data-slot="recommendations"><h2>You may also like</h2><ul><li>A</li></ul></aside>'
        '</main><footer><iframe src="https://www.youtube.com/embed/x" width="1"></iframe>'
        "<p>© 2026 Umbrella Shop</p></footer>"
        '<script src="https://connect.facebook.net/en_US/fbevents.js"></script></body></html>'
    )
    return (head + nav + grid + tail).encode()


class Inspect(Stage):
    """Looks at what prior blocking will look at, changes nothing."""

    tags = frozenset({"script", "iframe", "img"})
    attributes = frozenset({"data-consent"})

    def start_tag(self, tag: StartTag) -> None:
        tag.get("src")


def measure(fn: Callable[[], object], nbytes: int, seconds: float) -> float:
    fn()
    best = float("inf")
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return nbytes / best / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    page = shop_page()
    chunks = [page[i : i + CHUNK] for i in range(0, len(page), CHUNK)]
    filled = _rewrite(chunks, [SlotFill(FILL)])
    assert b"Umbrellas \xe2\x88\x9220 %" in filled and b"Item 7" in filled
    assert _rewrite(chunks, []) == page
    print(f"page: {len(page)} bytes, {page.count(b'<')} tags-ish, {len(chunks)} chunks")

    rows: list[tuple[str, Callable[[], object]]] = [
        ("rewriter, no stages", lambda: _rewrite(chunks, [])),
        ("rewriter, SlotFill (2 slots)", lambda: _rewrite(chunks, [SlotFill(FILL)])),
        (
            "rewriter, SlotFill + inspect script/iframe/img",
            lambda: _rewrite(chunks, [SlotFill(FILL), Inspect()]),
        ),
        (
            "  the same on the regex scanner (no C extension)",
            lambda: _rewrite(chunks, [SlotFill(FILL), Inspect()], native=False),
        ),
        ("rewrite_html, gzip in -> br out, SlotFill", _pipeline(page)),
        ("html.parser tokenize only (stdlib)", lambda: HTMLParser().feed(page.decode())),
    ]
    try:
        from selectolax.lexbor import LexborHTMLParser
    except ImportError:
        print("(selectolax not installed: pip install selectolax to compare)")
    else:

        def selectolax_fill() -> bytes:
            tree = LexborHTMLParser(page)
            for node in tree.css("[data-slot]"):
                html = FILL.get(node.attributes.get("data-slot") or "")
                if html is not None:
                    node.inner_html = html
            return (tree.html or "").encode()

        rows.append(("selectolax (lexbor) parse + fill + serialize", selectolax_fill))
    for label, fn in rows:
        print(f"{label:50s} {measure(fn, len(page), args.seconds):8.1f} MB/s")


def _rewrite(chunks: list[bytes], stages: list[Stage], native: bool = True) -> bytes:
    r = HtmlRewriter(stages, charset="utf-8", native=native)
    out = [r.feed(c) for c in chunks]
    out.append(r.close())
    return b"".join(out)


def _pipeline(page: bytes) -> Callable[[], object]:
    compressed = gzip.compress(page)
    parts = [compressed[i : i + CHUNK] for i in range(0, len(compressed), CHUNK)]

    async def body() -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    async def run() -> bytes:
        result = rewrite_html(
            body(),
            content_type="text/html; charset=utf-8",
            content_encoding="gzip",
            accept_encoding="br, gzip",
            stages=[SlotFill(FILL)],
            max_decoded_bytes=16 << 20,
        )
        assert result is not None
        return b"".join([c async for c in result.body])

    loop = asyncio.new_event_loop()
    return lambda: loop.run_until_complete(run())


if __name__ == "__main__":
    main()
