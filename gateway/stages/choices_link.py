"""The "Your Privacy Choices" link for visitors who may opt out of sale/sharing.

Last thing in `<body>` (right before `</body>`), so it comes after the page in reading and
focus order and sits fixed in a corner; a page without a `</body>` end tag gets it at its
very end, which the HTML parser still puts into the body. Injected once per page.
"""

from __future__ import annotations

from gateway.html.stage import DocumentEnd, EndTag, Stage


class ChoicesLink(Stage):
    """Inserts `html` (from `consent.choices_link.render_choices_link`) before `</body>`."""

    name = "choices-link"
    end_tags = frozenset({"body"})

    def __init__(self, html: str) -> None:
        """`html`: the link, rendered for this visitor's language and page."""
        self.html = html
        #: Whether the link went into this page yet.
        self.injected = False

    def end_tag(self, tag: EndTag) -> None:
        """Before the first `</body>` (a stray second one would put it twice)."""
        if not self.injected:
            self.injected = True
            tag.insert_before(self.html)

    def end_document(self, doc: DocumentEnd) -> None:
        """No `</body>` came: append the link after the last byte."""
        if not self.injected:
            self.injected = True
            doc.append(self.html)
