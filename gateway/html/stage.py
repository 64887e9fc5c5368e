"""The contract between the HTML rewriter and its ordered stages.

A stage declares what it wants to see; the scanner builds tag views only for those tags, so
the cost of a page is paid mostly in C-level regex matches over everything else:

    class NoIframes(Stage):
        tags = frozenset({"iframe"})
        def start_tag(self, tag: StartTag) -> None:
            tag.set_attribute("data-src", tag.get("src") or "")
            tag.remove_attribute("src")

One stage instance serves one document (stages may keep per-page state, e.g. "banner already
injected"). Stages run in list order on each tag; a later stage sees what earlier ones changed.
HTML given to `insert_*`, `replace`, `set_content` is a `str`; the pipeline encodes it in the
page's charset, writing characters the charset lacks as numeric character references (so do
not insert non-ASCII text inside a `<script>`; use `\\uXXXX` escapes there).
"""

from __future__ import annotations

from typing import ClassVar

#: Put in `Stage.tags` or `Stage.end_tags` to see every start or end tag.
ALL = "*"


class StartTag:
    """A start tag a stage asked for: read its attributes, change it, or add HTML around it."""

    __slots__ = (
        "name",
        "raw",
        "self_closing",
        "_attrs",
        "_modified",
        "_replacement",
        "_before",
        "_after",
        "_content",
    )

    def __init__(
        self, name: str, attributes: list[tuple[str, str]], raw: bytes, self_closing: bool
    ) -> None:
        #: Lowercased tag name.
        self.name = name
        #: The tag exactly as it came from upstream, `<` to `>`.
        self.raw = raw
        #: Whether the tag ended in `/>` (HTML ignores it on non-void elements).
        self.self_closing = self_closing
        self._attrs = attributes
        self._modified = False
        self._replacement: str | None = None
        self._before: list[str] = []
        self._after: list[str] = []
        self._content: str | None = None

    @property
    def attributes(self) -> tuple[tuple[str, str], ...]:
        """`(name, value)` pairs in document order; names lowercased, values decoded."""
        return tuple(self._attrs)

    def get(self, name: str) -> str | None:
        """The value of attribute `name` (a valueless attribute gives ""), or None."""
        for key, value in self._attrs:
            if key == name:
                return value
        return None

    def has(self, name: str) -> bool:
        """Whether the tag carries attribute `name`."""
        return any(key == name for key, _ in self._attrs)

    def set_attribute(self, name: str, value: str) -> None:
        """Set (or add at the end) attribute `name`; the tag is then re-serialized."""
        for i, (key, _) in enumerate(self._attrs):
            if key == name:
                self._attrs[i] = (name, value)
                break
        else:
            self._attrs.append((name, value))
        self._modified = True

    def remove_attribute(self, name: str) -> None:
        """Drop attribute `name` if present; the tag is then re-serialized."""
        kept = [(k, v) for k, v in self._attrs if k != name]
        if len(kept) != len(self._attrs):
            self._attrs = kept
            self._modified = True

    def replace(self, html: str) -> None:
        """Emit `html` instead of the tag itself (content and end tag are unaffected)."""
        self._replacement = html

    def insert_before(self, html: str) -> None:
        """Emit `html` right before the tag."""
        self._before.append(html)

    def insert_after(self, html: str) -> None:
        """Emit `html` right after the tag (inside the element, before its content)."""
        self._after.append(html)

    def set_content(self, html: str) -> None:
        """Replace the element's content up to its matching end tag with `html`.

        Ignored on void elements and inside content that is already being replaced; the last
        call wins.
        """
        self._content = html

    @property
    def modified(self) -> bool:
        """Whether attributes were changed (the tag will be re-serialized)."""
        return self._modified


class EndTag:
    """An end tag a stage asked for (`Stage.end_tags`): add HTML before or after it."""

    __slots__ = ("name", "raw", "_before", "_after")

    def __init__(self, name: str, raw: bytes) -> None:
        self.name = name
        self.raw = raw
        self._before: list[str] = []
        self._after: list[str] = []

    def insert_before(self, html: str) -> None:
        """Emit `html` right before the end tag."""
        self._before.append(html)

    def insert_after(self, html: str) -> None:
        """Emit `html` right after the end tag."""
        self._after.append(html)


class DocumentEnd:
    """The end of the document: a last chance to append HTML (e.g. when `<body>` never came)."""

    __slots__ = ("_appended",)

    def __init__(self) -> None:
        self._appended: list[str] = []

    def append(self, html: str) -> None:
        """Emit `html` after the last byte of the page."""
        self._appended.append(html)


class Stage:
    """Base class of a pipeline stage; override the hooks you need.

    Declare interest with `tags` (start-tag names, or `ALL`), `attributes` (a start tag
    carrying any of these is shown whatever its name, e.g. `data-slot`) and `end_tags`
    (end-tag names, or `ALL`). Names are lowercase. Instances may set these in `__init__`.
    """

    tags: frozenset[str] = frozenset()
    attributes: frozenset[str] = frozenset()
    end_tags: frozenset[str] = frozenset()
    #: Of `tags`, those this stage needs only when one of `url_attributes` holds something
    #: other than a same-origin relative URL (see `scanner.skip_pattern`): an `<img
    #: src="/p1.jpg">` then never reaches Python. A stage that learns relative URLs now
    #: point elsewhere (a `<base href>` on another host) sets it to empty; the rewriter
    #: notices after the tag.
    relative_tags: frozenset[str] = frozenset()
    url_attributes: frozenset[str] = frozenset()
    #: Raw-text elements (e.g. `style`) whose whole text this stage reads in `raw_text`.
    raw_text_of: frozenset[str] = frozenset()
    #: Human-readable stage name for logs and `rules explain`.
    name: ClassVar[str] = "stage"

    def start_tag(self, tag: StartTag) -> None:
        """Called for each start tag this stage declared interest in."""

    def raw_text(self, name: str, text: str) -> str | None:
        """Called with the whole text of a `raw_text_of` element (up to its end tag, or the
        end of the page); return the text to emit instead, or None to keep it."""
        return None

    def end_tag(self, tag: EndTag) -> None:
        """Called for each end tag named in `end_tags`."""

    def end_document(self, doc: DocumentEnd) -> None:
        """Called once after the last byte of the page."""
