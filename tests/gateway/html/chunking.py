"""Feeding an `HtmlRewriter` in pieces: what the stages write must not depend on where the
network cut the document."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gateway.html import HtmlRewriter, Stage


def rewrite(
    doc: bytes,
    stages: Sequence[Stage],
    cuts: Sequence[int] = (),
    charset: str = "utf-8",
    **options: int,
) -> bytes:
    """Feed `doc` to a rewriter of `stages`, split at `cuts`; the whole output."""
    rewriter = HtmlRewriter(stages, charset=charset, **options)
    out, last = [], 0
    for cut in [*cuts, len(doc)]:
        out.append(rewriter.feed(doc[last:cut]))
        last = cut
    out.append(rewriter.close())
    return b"".join(out)


def rewrite_at_every_cut(
    doc: bytes, stages: Callable[[], Sequence[Stage]], charset: str = "utf-8"
) -> bytes:
    """Rewrite `doc` whole, byte by byte and at every single cut, with fresh `stages()` each
    time: all must agree; the one output."""
    splits: list[list[int]] = [[], list(range(1, len(doc)))]
    splits += [[cut] for cut in range(1, len(doc))]
    outputs = {rewrite(doc, stages(), cuts, charset) for cuts in splits}
    assert len(outputs) == 1, outputs
    return outputs.pop()
