"""Banner injection: the consent banner goes first thing in `<body>`, once per page.

First in the body so keyboard and screen-reader users meet it before the page (WCAG 2.2
§2.4.3 focus order); a page without a `<body>` start tag gets it at its very end, which the
HTML parser still puts into the body. Its scripts take the page's CSP nonce when the head's
scripts carry one (`script_nonce`).
"""

from __future__ import annotations

from gateway.html.stage import DocumentEnd, Stage, StartTag
from gateway.stages.script_nonce import nonce_of, with_nonce


class BannerInjection(Stage):
    """Inserts `html` (from `consent.banner.render_banner`) right after the `<body>` start tag."""

    name = "banner"
    tags = frozenset({"body", "script"})

    def __init__(self, html: str) -> None:
        """`html`: the banner, rendered for this visitor and language."""
        self.html = html
        #: Whether the banner went into this page yet.
        self.injected = False
        #: The first script nonce seen before the banner went in.
        self.nonce: str | None = None

    def start_tag(self, tag: StartTag) -> None:
        """After the first `<body>` start tag (a second one only merges attributes)."""
        if self.injected:
            return
        if tag.name == "script":
            self.nonce = self.nonce or nonce_of(tag)
            return
        self.injected = True
        tag.insert_after(with_nonce(self.html, self.nonce))

    def end_document(self, doc: DocumentEnd) -> None:
        """No `<body>` start tag came: append the banner after the last byte."""
        if not self.injected:
            self.injected = True
            doc.append(with_nonce(self.html, self.nonce))
