"""SlotFill: the inner HTML of `data-slot` elements is replaced, and nothing else moves."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from gateway.html import HtmlRewriter, SlotFill
from tests.gateway.html.chunking import rewrite

FILL = {"hero": "<h2>Rain in London</h2>", "recs": "<ul><li>Umbrella</li></ul>", "t": "new"}


def fill(doc: bytes, cuts: Sequence[int] = (), contents: dict[str, str] = FILL, **kw: int) -> bytes:
    return rewrite(doc, [SlotFill(contents)], cuts, **kw)


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        # The basic case; attributes and the end tag are kept exactly.
        (
            b'<div class=x data-slot="hero" id=h>old <b>bold</b></div>after',
            b'<div class=x data-slot="hero" id=h><h2>Rain in London</h2></div>after',
        ),
        # Unknown slot names keep the storefront's fallback content.
        (b"<div data-slot=other>keep</div>", b"<div data-slot=other>keep</div>"),
        # Nested same-name elements: dropped up to the *matching* end tag.
        (
            b"<div data-slot=hero><div><div>x</div></div>y</div><div>z</div>",
            b"<div data-slot=hero><h2>Rain in London</h2></div><div>z</div>",
        ),
        # Uppercase, odd quoting, whitespace around the name.
        (
            b"<SECTION DATA-SLOT=' recs '>a</Section>!",
            b"<SECTION DATA-SLOT=' recs '><ul><li>Umbrella</li></ul></Section>!",
        ),
        # A void element has no content to replace.
        (b"<img data-slot=hero src=a.png><p>x</p>", b"<img data-slot=hero src=a.png><p>x</p>"),
        # Void and self-closing children do not confuse the depth count.
        (
            b"<div data-slot=t><br><img/><div/>x</div></div>end",
            b"<div data-slot=t>new</div>end",
        ),
        # Slot markers inside comments, scripts and attribute values are not slots.
        (
            b"<!--<div data-slot=t>--><script>'<div data-slot=t>'</script>"
            b"<a title='<div data-slot=t>'>a</a>",
            b"<!--<div data-slot=t>--><script>'<div data-slot=t>'</script>"
            b"<a title='<div data-slot=t>'>a</a>",
        ),
        # A `</div>` inside a comment or script inside the slot does not end it.
        (
            b"<div data-slot=t><!--</div>--><script>'</div>'</script>old</div>after",
            b"<div data-slot=t>new</div>after",
        ),
        # Raw-text slots are filled up to their end tag.
        (b"<textarea data-slot=t><div></textarea>x", b"<textarea data-slot=t>new</textarea>x"),
        # HTML §13.2.6.4.7: a <p> slot also ends where a block start tag closes the `p`.
        (
            b"<p data-slot=t>old <b>x</b><div>kept</div></p>",
            b"<p data-slot=t>new<div>kept</div></p>",
        ),
        # Two slots, one after another.
        (
            b"<div data-slot=hero>1</div><aside data-slot=recs>2</aside>",
            b"<div data-slot=hero><h2>Rain in London</h2></div>"
            b"<aside data-slot=recs><ul><li>Umbrella</li></ul></aside>",
        ),
        # A slot inside a slot being replaced is simply dropped with it.
        (
            b"<div data-slot=hero><span data-slot=t>in</span></div>x",
            b"<div data-slot=hero><h2>Rain in London</h2></div>x",
        ),
        # Unclosed slot at EOF: closed after the fill, every original byte after it kept.
        (
            b"<div data-slot=t>old<p>tail <b>bold",
            b"<div data-slot=t>new</div>old<p>tail <b>bold",
        ),
        # Unclosed because the depth never returns to zero.
        (
            b"<div data-slot=t><div>old</div>",
            b"<div data-slot=t>new</div><div>old</div>",
        ),
    ],
)
def test_slot_fill(doc: bytes, expected: bytes) -> None:
    assert fill(doc) == expected
    # Same result whatever the chunk boundaries, including one byte at a time.
    assert fill(doc, range(1, len(doc))) == expected


def test_slot_found_when_the_tag_is_split_across_chunks() -> None:
    doc = b'<main><div class="a" data-sl' + b'ot="hero">old</d' + b"iv></main>"
    r = HtmlRewriter([SlotFill(FILL)], charset="utf-8")
    first = r.feed(doc[:29])
    assert first == b"<main>"  # the cut tag waits, everything before it is out
    second = r.feed(doc[29:46])
    assert second == b'<div class="a" data-slot="hero"><h2>Rain in London</h2>'
    assert r.feed(doc[46:]) + r.close() == b"</div></main>"


def test_oversized_slot_content_is_given_back_instead_of_buffered() -> None:
    body = b"<p>" + b"x" * 5000 + b"</p>"
    doc = b"<div data-slot=t>" + body + b"</div>after"
    out = fill(doc, range(100, len(doc), 100), max_slot_bytes=1000)
    # Past the bound the slot is closed after the fill and its original content follows.
    assert out == b"<div data-slot=t>new</div>" + body + b"</div>after"


def test_fill_text_is_encoded_in_the_page_charset() -> None:
    r = HtmlRewriter([SlotFill({"t": "Café ☂"})], charset="iso8859-1")
    out = r.feed(b"<div data-slot=t>x</div>") + r.close()
    assert out == b"<div data-slot=t>Caf\xe9 &#9730;</div>"
