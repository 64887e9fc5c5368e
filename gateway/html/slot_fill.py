"""Slot filling: replace the inner HTML of `data-slot="NAME"` elements."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.html.stage import Stage, StartTag


class SlotFill(Stage):
    """Fills each element whose `data-slot` names a key of `contents` with that HTML.

    Slots not in the mapping keep their original content (the storefront's fallback).
    """

    name = "slot-fill"
    attributes = frozenset({"data-slot"})

    def __init__(self, contents: Mapping[str, str]) -> None:
        self.contents = dict(contents)

    def start_tag(self, tag: StartTag) -> None:
        """Replace the element's content when its slot name has an entry."""
        slot = tag.get("data-slot")
        if slot is not None and (html := self.contents.get(slot.strip())) is not None:
            tag.set_content(html)
