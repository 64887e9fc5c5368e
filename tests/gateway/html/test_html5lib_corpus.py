"""The scanner against the html5lib-tests corpus (tests/data/html5lib-tests, MIT licence).

For every tree-construction case, each element a conforming parser builds in the HTML
namespace that can load something (`img`, `script`, `iframe` …) must be a start tag the
scanner reported, with the same attributes: the scanner may see more (tags the tree builder
drops, foreign elements), never fewer. Fragment cases (`#document-fragment`) are parsed in a
context the gateway never has (it sees whole documents) and are left out. The tokenizer cases
check the start tag tokens: in the data state every one is reported; in the RCDATA, RAWTEXT,
script data, PLAINTEXT and CDATA section states (entered by `<title>`, `<xmp>`, `<script>`,
`<plaintext>`, `<svg><![CDATA[`) none is, as none is a tag there.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from gateway.html import HtmlRewriter, Stage, StartTag

CORPUS = Path(__file__).resolve().parents[2] / "data" / "html5lib-tests"
LOADING = frozenset({"img", "script", "iframe", "embed", "video", "audio", "source", "link"})

Element = tuple[str, tuple[tuple[str, str], ...]]


class Recorder(Stage):
    """Records the start tags prior blocking would be shown."""

    tags = LOADING

    def __init__(self) -> None:
        self.seen: list[Element] = []

    def start_tag(self, tag: StartTag) -> None:
        self.seen.append((tag.name, tuple(sorted(tag.attributes))))


def scanned(data: str, cut: int | None = None) -> Counter[Element]:
    recorder = Recorder()
    rewriter = HtmlRewriter([recorder], charset="utf-8")
    raw = data.encode("utf-8", "surrogatepass")
    pieces = [raw] if cut is None else [raw[i : i + cut] for i in range(0, len(raw), cut)]
    for piece in pieces:
        rewriter.feed(piece)
    rewriter.close()
    return Counter(recorder.seen)


def cases(path: Path) -> list[dict[str, str]]:
    """The `#data`/`#document`… sections of a .dat file."""
    found: list[dict[str, str]] = []
    current: dict[str, list[str]] = {}
    section = ""
    lines = path.read_text(encoding="utf-8").split("\n")
    for i, line in enumerate(lines):
        if line == "#data" and (i == 0 or lines[i - 1] == ""):
            if current:
                found.append({k: "\n".join(v) for k, v in current.items()})
            current, section = {"data": []}, "data"
        elif (
            line.startswith("#")
            and section
            and line[1:]
            in (
                "errors",
                "new-errors",
                "document",
                "document-fragment",
                "script-off",
                "script-on",
            )
        ):
            section = line[1:]
            current.setdefault(section, [])
        elif section:
            current[section].append(line)
    if current:
        found.append({k: "\n".join(v) for k, v in current.items()})
    for case in found:
        case["data"] = case["data"].removesuffix("\n") if "data" in case else ""
        case["document"] = case.get("document", "").rstrip("\n")
    return found


def built(document: str) -> Counter[Element]:
    """HTML-namespace loading elements of an expected tree, with their attributes."""
    elements: list[tuple[int, str, list[tuple[str, str]]]] = []
    for line in document.split("\n"):
        if not line.startswith("| "):
            continue  # the rest of a text node spanning lines
        body = line[2:]
        depth = len(body) - len(body.lstrip(" "))
        body = body.lstrip(" ")
        if body.startswith("<") and body.endswith(">") and not body.startswith(("<!", "<?")):
            elements.append((depth, body[1:-1], []))
        elif "=" in body and not body.startswith('"') and elements:
            name, _, value = body.partition("=")
            if elements[-1][0] + 2 == depth and value.startswith('"') and value.endswith('"'):
                elements[-1][2].append((name, value[1:-1]))
    return Counter((name, tuple(sorted(attrs))) for _, name, attrs in elements if name in LOADING)


def _params() -> list[object]:
    params: list[object] = []
    for path in sorted((CORPUS / "tree-construction").glob("*.dat")):
        for i, case in enumerate(cases(path)):
            if "document-fragment" in case:
                continue
            params.append(pytest.param(case, id=f"{path.stem}-{i}"))
    return params


@pytest.mark.parametrize("case", _params())
def test_every_loading_element_the_parser_builds_is_seen(case: dict[str, str]) -> None:
    data = case["data"]
    expected = built(case["document"])
    for cut in (None, 1, 7):
        missing = expected - scanned(data, cut)
        assert not missing, f"{data!r} (cut {cut}): not seen {sorted(missing)}"


def test_the_corpus_is_there() -> None:
    # A vendoring mistake must not make the corpus test pass by having no cases.
    assert len(_params()) > 1000
    assert len(_token_cases()) > 300


def _token_cases() -> list[object]:
    params: list[object] = []
    for path in sorted((CORPUS / "tokenizer").glob("*.test")):
        for i, test in enumerate(json.loads(path.read_text(encoding="utf-8"))["tests"]):
            states = test.get("initialStates", ["Data state"])
            if "Data state" not in states or test.get("lastStartTag") or test.get("doubleEscaped"):
                continue
            params.append(pytest.param(test, id=f"{path.stem}-{i}"))
    return params


class AllTags(Recorder):
    tags = frozenset({"*"})


@pytest.mark.parametrize("test", _token_cases())
def test_every_start_tag_token_is_seen(test: dict[str, object]) -> None:
    """Tokenizer cases in the data state: every start tag token, with its attributes."""
    output = test["output"]
    assert isinstance(output, list)
    data = test["input"]
    assert isinstance(data, str)
    recorder = AllTags()
    rewriter = HtmlRewriter([recorder], charset="utf-8")
    rewriter.feed(data.encode("utf-8", "surrogatepass"))
    rewriter.close()
    expected = [token[1] for token in output if token[0] == "StartTag"]
    # A raw-text element's start tag switches the tokenizer only in tree construction; the
    # tokenizer cases run in the data state throughout, so compare the first such tag only.
    seen = recorder.seen
    for i, token in enumerate(expected):
        if i >= len(seen):
            pytest.fail(f"{data!r}: not seen {token}")
        # Names reach stages as the page's bytes read as Latin-1 (only ASCII names matter).
        name = seen[i][0].encode("latin-1").replace(b"\0", "\ufffd".encode())  # §13.2.5.8
        assert name == token.encode("utf-8", "surrogatepass"), data
        if token in ("script", "style", "title", "textarea", "xmp", "iframe", "plaintext"):
            break


# The element that puts the tokenizer in each state the corpus starts some cases in.
_STATE_PREFIX = {
    "RCDATA state": "title",
    "RAWTEXT state": "xmp",
    "Script data state": "script",
    "PLAINTEXT state": "plaintext",
}


def _state_cases() -> list[object]:
    params: list[object] = []
    for path in sorted((CORPUS / "tokenizer").glob("*.test")):
        for i, test in enumerate(json.loads(path.read_text(encoding="utf-8"))["tests"]):
            for state in test.get("initialStates", []):
                last = test.get("lastStartTag")
                if state == "CDATA section state":
                    prefix = "<svg><![CDATA["
                elif state in _STATE_PREFIX and last in (None, _STATE_PREFIX[state]):
                    prefix = f"<{_STATE_PREFIX[state]}>"
                else:
                    continue
                # Without lastStartTag a case assumes no appropriate end tag; the element
                # entered here would make its own end tag in the input one, so it does not apply.
                name = prefix.strip("<>").split(">")[0]
                if last is None and f"</{name}".lower() in test["input"].lower():
                    continue
                params.append(pytest.param(prefix, test, id=f"{path.stem}-{i}-{state}"))
    return params


@pytest.mark.parametrize(("prefix", "test"), _state_cases())
def test_start_tags_after_raw_text_rcdata_plaintext_and_cdata(
    prefix: str, test: dict[str, object]
) -> None:
    """Cases that start in another tokenizer state, entered by the element that causes it:
    the start tags the scanner reports after it are the tokenizer's."""
    data = test["input"]
    output = test["output"]
    assert isinstance(data, str) and isinstance(output, list)
    recorder = AllTags()
    rewriter = HtmlRewriter([recorder], charset="utf-8")
    rewriter.feed((prefix + data).encode("utf-8", "surrogatepass"))
    rewriter.close()
    skip = 2 if prefix.startswith("<svg>") else 1
    seen = [n.encode("latin-1").replace(b"\0", "\ufffd".encode()) for n, _ in recorder.seen[skip:]]
    expected = [t[1].encode("utf-8", "surrogatepass") for t in output if t[0] == "StartTag"]
    assert seen == expected, data
