"""Which namespace a tag lands in inside `<svg>`/`<math>`: the tree builder, as far as it decides
how the tokenizer reads what follows.

The tokenizer's reading depends on the tree: `<style>`, `<script>`, `<title>` … start raw text
or RCDATA only as HTML elements, and `<![CDATA[` opens a CDATA section only where the adjusted
current node is not an HTML element (HTML §13.2.5.42). Outside SVG and MathML the rewriter
needs no tree; from an `<svg>`/`<math>` start tag in HTML content until that element is
popped, it keeps this stack of open elements (an "island") and follows HTML §13.2.6 "tree
construction dispatcher" and §13.2.6.5 "rules for parsing tokens in foreign content":
breakout tags, `</p>` and `</br>`, HTML and MathML text integration points, and end tags that
walk up the stack.

HTML elements inside an integration point are tracked with the in-body rules that pop them
(matching end tags, the special category, scopes, the start tags that close a `p`, `li`, `dd`,
`dt`, heading or `option`). Two rules reach past the integration point into elements outside
the island, which the rewriter does not track, so the page is made to leave them no say: table
tags there (in a table's insertion modes they pop the island; in body they are dropped) are
made text (`Island.is_stray_table_tag`). And whenever a tag there closes elements besides its
own target, their end tags are put before it (`Island.take_closers`): a formatting element
closed that way would stay in the list of active formatting elements and be reopened by the
next text (HTML §13.2.4.3), and one closed with special elements above it would make the
adoption agency move them; closed by its own end tag, neither happens.

An end tag that matches nothing in the island falls through to the HTML elements outside it,
which the rewriter does not track; whether the browser then pops the island depends on them.
`Island.end` answers with end tags that close the island first, so the page says it outright.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

HTML, SVG, MATHML = "html", "svg", "math"

#: HTML §13.2.6.5: start tags that break out of foreign content (`font` only with
#: `color`, `face` or `size`).
BREAKOUT = frozenset(
    """b big blockquote body br center code dd div dl dt em embed h1 h2 h3 h4 h5 h6 head hr
    i img li listing menu meta nobr ol p pre ruby s small span strong strike sub sup table
    tt u ul var""".split()
)
FONT_BREAKOUT_ATTRIBUTES = frozenset({"color", "face", "size"})
#: Names whose attributes decide how the tree builder treats them (see `Island.start`).
NEEDS_ATTRIBUTES = frozenset({"font", "annotation-xml"})

# HTML §13.2.6: MathML text integration points; HTML integration points in SVG.
_MATHML_TEXT = frozenset({"mi", "mo", "mn", "ms", "mtext"})
_SVG_HTML_IP = frozenset({"foreignobject", "desc", "title"})
_HTML_ENCODINGS = frozenset({"text/html", "application/xhtml+xml"})

# HTML §13.2.4.2: the special category (HTML ones; the foreign ones are the integration
# points, see `_Node.special`).
_SPECIAL = frozenset(
    """address applet area article aside base basefont bgsound blockquote body br button
    caption center col colgroup dd details dir div dl dt embed fieldset figcaption figure
    footer form frame frameset h1 h2 h3 h4 h5 h6 head header hgroup hr html iframe img input
    keygen li link listing main marquee menu meta nav noembed noframes noscript object ol p
    param plaintext pre script search section select source style summary table tbody td
    template textarea tfoot th thead title tr track ul wbr xmp""".split()
)
# HTML §13.2.4.2: "has an element in scope" stops at these HTML elements (and at the
# integration points); button scope adds `button`, list item scope `ol` and `ul`.
_SCOPE = frozenset("applet caption html table td th marquee object template".split())
# HTML §13.2.6.4.7: end tags closed by "has an element in scope" rather than by the
# "any other end tag" walk.
_SCOPED_END = frozenset(
    """address article aside blockquote button center details dialog dir div dl fieldset
    figcaption figure footer header hgroup listing main menu nav ol pre search section
    summary ul li dd dt h1 h2 h3 h4 h5 h6 form applet marquee object a b big code em font
    i nobr s small strike strong tt u""".split()
)
_HEADINGS = frozenset("h1 h2 h3 h4 h5 h6".split())
# HTML §13.2.6.4.9-§13.2.6.4.15: tags whose effect under a table's insertion modes pops
# elements outside the island (and that in body are parse errors, ignored or nesting).
_TABLE_START = frozenset("caption col colgroup tbody td tfoot th thead tr table frameset".split())
_TABLE_END = frozenset("caption table tbody td tfoot th thead tr".split())

# HTML §13.2.6.4.7: start tags that close a `p` element in button scope.
_P_CLOSERS = frozenset(
    """address article aside blockquote center details dialog dir div dl fieldset
    figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr listing main menu nav
    ol p plaintext pre search section summary table ul xmp li dd dt""".split()
)
# HTML §13.1.2: void elements (no end tag, never on the stack); raw text, RCDATA and
# PLAINTEXT elements end with their own end tag, read by the tokenizer, so they are not
# kept either; `html`, `body`, `head` and `frameset` in body only lend attributes or are
# ignored.
_NOT_KEPT = frozenset(
    """area base basefont bgsound br col embed hr img input keygen link meta param source
    track wbr frame image script style xmp iframe noembed noframes noscript textarea
    title plaintext html body head frameset""".split()
)

Attributes = Callable[[], dict[str, str]]


class _Node(NamedTuple):
    name: str  # ASCII-lowercased, as every comparison in the tree builder is
    ns: str
    html_ip: bool  # HTML integration point
    text_ip: bool  # MathML text integration point

    @property
    def special(self) -> bool:
        return self.html_ip or self.text_ip or (self.ns == HTML and self.name in _SPECIAL)


def _foreign(name: str, ns: str, attrs: Attributes) -> _Node:
    if ns == SVG:
        return _Node(name, ns, name in _SVG_HTML_IP, False)
    if name == "annotation-xml":
        encoding = attrs().get("encoding", "").lower()
        return _Node(name, ns, encoding in _HTML_ENCODINGS, False)
    return _Node(name, ns, False, name in _MATHML_TEXT)


class Island:
    """The open elements from an `<svg>` or `<math>` root down (see module docstring)."""

    __slots__ = ("_stack", "_popped", "_closers")

    def __init__(self, root: str) -> None:
        self._stack: list[_Node] = [_Node(root, SVG if root == "svg" else MATHML, False, False)]
        self._popped: list[_Node] = []
        self._closers: list[str] = []

    @property
    def open(self) -> bool:
        """False once the root is popped: the rewriter is back in plain HTML content."""
        return bool(self._stack)

    @property
    def cdata(self) -> str:
        """What `<![CDATA[` is here: "cdata" (adjusted current node is foreign), "comment"
        (HTML: a bogus comment), or "ambiguous" (an integration point, where whether an HTML
        element is still open above it rests on rules not simulated here)."""
        top = self._stack[-1]
        if top.ns == HTML:
            return "comment"
        return "ambiguous" if top.html_ip or top.text_ip else "cdata"

    @property
    def names(self) -> tuple[str, ...]:
        """The open elements' names, root first (for tests)."""
        return tuple(node.name for node in self._stack)

    def take_closers(self) -> list[str]:
        """End tags to put before the start tag just given to `start` (see module docstring)."""
        closers, self._closers = self._closers, []
        return closers

    def is_stray_table_tag(self, name: str, end: bool) -> bool:
        """Whether this table tag would be handled by the HTML rules under an integration
        point, where its effect depends on the insertion mode outside the island: the
        rewriter then makes its `<` text (the browser reads it as text too)."""
        if not self._stack:
            return False
        top = self._stack[-1]
        if end:
            return name in _TABLE_END and top.ns == HTML
        return name in _TABLE_START and (top.ns == HTML or top.html_ip or top.text_ip)

    def start(self, name: str, attrs: Attributes, self_closing: bool) -> bool:
        """A start tag; True when it is an HTML element (raw text and PLAINTEXT apply)."""
        self._closers = []
        top = self._stack[-1]
        # HTML §13.2.6 dispatcher: these go to the HTML rules, all else in foreign content.
        if (
            top.ns == HTML
            or top.html_ip
            or (top.text_ip and name not in ("mglyph", "malignmark"))
            or (top.ns == MATHML and top.name == "annotation-xml" and name == "svg")
        ):
            return self._html_start(name, attrs, self_closing)
        if name in BREAKOUT or (
            name == "font" and not FONT_BREAKOUT_ATTRIBUTES.isdisjoint(attrs())
        ):
            # HTML §13.2.6.5: breakout: pop to an HTML element or integration point, then
            # the HTML rules.
            self._pop_to_html()
            return self._html_start(name, attrs, self_closing)
        if not self_closing:
            self._stack.append(_foreign(name, top.ns, attrs))
        return False

    def end(self, name: str) -> list[str]:
        """An end tag; returns end tags to insert before it (see module docstring)."""
        if not self._stack:
            return []
        top = self._stack[-1]
        self._closers = []
        if top.ns == HTML:
            return self._html_end(name)
        if name in ("p", "br"):
            # HTML §13.2.6.5: `</br>` and `</p>` break out like the start tags above. Parsers
            # older than that rule walk up instead and stay in SVG: the popped elements' own
            # end tags go first, so both kinds end up where the current rule puts them.
            depth = len(self._stack)
            self._pop_to_html()
            closers = [f"</{node.name}>" for node in self._stack_tail(depth)]
            return closers + (self._html_end(name) if self._stack else [])
        # HTML §13.2.6.5 "any other end tag": walk up through foreign elements.
        for i in range(len(self._stack) - 1, -1, -1):
            node = self._stack[i]
            if node.ns == HTML:
                return self._html_end(name)
            if node.name == name:
                del self._stack[i:]
                return []
        # Nothing in the island matches: the HTML rules would run on the elements outside it,
        # which may or may not pop the island. Close it first so both readings agree.
        closers = [f"</{node.name}>" for node in reversed(self._stack)]
        self._stack.clear()
        return closers

    # -- HTML content inside an integration point -----------------------------------------

    def _pop_to_html(self) -> None:
        stack = self._stack
        self._popped = []
        while stack and not (stack[-1].ns == HTML or stack[-1].html_ip or stack[-1].text_ip):
            self._popped.append(stack.pop())

    def _stack_tail(self, depth: int) -> list[_Node]:
        """The nodes `_pop_to_html` just popped, the current node first."""
        return self._popped[: depth - len(self._stack)]

    def _html_start(self, name: str, attrs: Attributes, self_closing: bool) -> bool:
        if not self._stack:
            return True  # the island is gone: plain HTML content, the rewriter's business
        if name in ("svg", "math"):
            # HTML §13.2.6.4.7: a foreign root; self-closing pops it at once.
            if not self_closing:
                ns = SVG if name == "svg" else MATHML
                self._stack.append(_Node(name, ns, False, False))
            return False
        if name in _P_CLOSERS:
            self._close_in_scope("p", button=True)
        if name in ("li", "dd", "dt"):
            for other in ("li",) if name == "li" else ("dd", "dt"):
                self._close_in_scope(other, listitem=name == "li")
        if name in ("a", "nobr"):
            # HTML §13.2.6.4.7: a second `a` (an `nobr` in scope) runs the adoption agency on
            # the first; closed by its own end tag first, there is nothing for it to move.
            i = self._in_scope(frozenset({name})) if name == "nobr" else self._open_html(name)
            if i >= 0:
                self._pop_to(i)
                self._closers.append(f"</{name}>")
        if name in _HEADINGS and self._top_is_html(_HEADINGS):
            self._pop_to(len(self._stack) - 1)
        if name in ("option", "optgroup") and self._top_is_html({"option"}):
            self._pop_to(len(self._stack) - 1)
        if name not in _NOT_KEPT:
            self._stack.append(_Node(name, HTML, False, False))
        return True

    def _open_html(self, name: str) -> int:
        """Index of the nearest HTML element `name` above the nearest integration point, -1."""
        for i in range(len(self._stack) - 1, -1, -1):
            node = self._stack[i]
            if node.ns == HTML and node.name == name:
                return i
            if node.html_ip or node.text_ip:
                return -1
        return -1

    def _top_is_html(self, names: frozenset[str] | set[str]) -> bool:
        top = self._stack[-1] if self._stack else None
        return top is not None and top.ns == HTML and top.name in names

    def _in_scope(
        self, names: frozenset[str], *, button: bool = False, listitem: bool = False
    ) -> int:
        """Index of the nearest HTML element named in `names` in scope (HTML §13.2.4.2), -1."""
        for i in range(len(self._stack) - 1, -1, -1):
            node = self._stack[i]
            if node.ns == HTML and node.name in names:
                return i
            if node.html_ip or node.text_ip:
                return -1
            if node.ns == HTML and (
                node.name in _SCOPE
                or (button and node.name == "button")
                or (listitem and node.name in ("ol", "ul"))
            ):
                return -1
            if node.ns != HTML and node.name in ("annotation-xml",):
                return -1
        return -1

    def _close_in_scope(self, name: str, *, button: bool = False, listitem: bool = False) -> None:
        i = self._in_scope(frozenset({name}), button=button, listitem=listitem)
        if i >= 0:
            self._pop_to(i)

    def _pop_to(self, i: int) -> None:
        """Pop the stack down to index `i`, noting end tags for what lies above that node."""
        self._closers.extend(f"</{node.name}>" for node in reversed(self._stack[i + 1 :]))
        del self._stack[i:]

    def _html_end(self, name: str) -> list[str]:
        if name == "br":
            return self.take_closers()  # HTML §13.2.6.4.7: `</br>` is a `<br>`
        if name == "p":
            self._close_in_scope("p", button=True)
            return self.take_closers()
        if name in _SCOPED_END:
            names = _HEADINGS if name in _HEADINGS else frozenset({name})
            i = self._in_scope(names, listitem=name == "li")
            if i >= 0:
                self._pop_to(i)
            return self.take_closers()
        # HTML §13.2.6.4.7 "any other end tag": the nearest HTML element of that name, unless
        # a special element comes first.
        for i in range(len(self._stack) - 1, -1, -1):
            node = self._stack[i]
            if node.ns == HTML and node.name == name:
                self._pop_to(i)
                break
            if node.special:
                break
        return self.take_closers()
