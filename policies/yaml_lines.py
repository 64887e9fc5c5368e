"""Read YAML into plain Python data and remember the line of every key and item.

`yaml.safe_load` forgets where values came from and silently keeps the last of two equal keys.
Configuration errors must say `FILE:LINE`, and a duplicated key is almost always a mistake
(two `gateway:` sections, one of them ignored), so this reader composes the node graph with
PyYAML's safe loader and builds the data itself:

- `YamlDocument.lines` maps a path (`("gateway", "port")`, `("purposes", 0)`) to the 1-based
  line of that mapping key or sequence item; `()` is the document's first line.
- Mapping keys are kept as their literal text (`NO:` stays `"NO"`, `1:` stays `"1"`), and
  timestamps stay strings (`version: 2024-01-31`), so a model never sees a surprise type.
- Problems (syntax, duplicate keys, bad tags, alias bombs, nesting too deep) are collected as
  `YamlProblem`s instead of raised, so the caller can report all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Path_ = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"
# Billion-laughs guard: aliases may repeat a node, but the expanded data stays bounded.
MAX_NODES = 100_000
# Deeper than any sane config; keeps our own recursion far from Python's limit.
MAX_DEPTH = 64


@dataclass(frozen=True)
class YamlProblem:
    """Something wrong at `line` (1-based; 0 when the file has no usable position)."""

    line: int
    message: str


@dataclass
class YamlDocument:
    """The data of one YAML file and the line of every path in it."""

    data: object
    lines: dict[Path_, int] = field(default_factory=dict)
    # Paths whose value could not be read (already a problem): validation skips them.
    broken: set[Path_] = field(default_factory=set)

    def line_of(self, path: Path_) -> int:
        """The line of `path`, or of its nearest ancestor that has one."""
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path, 1)


@dataclass
class ParseResult:
    """What `parse` found: the document (None when unreadable) and every problem."""

    document: YamlDocument | None
    problems: list[YamlProblem]


def decode(raw: bytes) -> tuple[str | None, YamlProblem | None]:
    """The text of a config file: UTF-8 (a BOM is skipped), or UTF-16 with its BOM."""
    # YAML 1.2 §5.2: a stream is UTF-8, UTF-16 or UTF-32; only the BOM'd UTF-16 is seen in
    # practice (Windows editors), and JSON (RFC 8259 §8.1) is UTF-8 only.
    encoding = "utf-16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    try:
        return raw.decode(encoding), None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        name = "UTF-16" if encoding == "utf-16" else "UTF-8"
        return None, YamlProblem(line, f"not valid {name} text ({exc.reason})")


def parse(text: str) -> ParseResult:
    """Parse one YAML document from `text`; never raises for any input."""
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        return ParseResult(None, [_syntax_problem(exc, text)])
    except yaml.reader.ReaderError as exc:
        # A ReaderError (control character, say) carries a character offset, not a line.
        line = text.count("\n", 0, exc.position) + 1
        message = f"character #x{exc.character:04X}: {exc.reason}"
        return ParseResult(None, [YamlProblem(line, message)])
    except yaml.YAMLError as exc:  # pragma: no cover - every other YAMLError carries a mark
        return ParseResult(None, [YamlProblem(1, f"YAML error: {exc}")])
    except RecursionError:
        return ParseResult(None, [YamlProblem(1, "YAML nesting is too deep")])
    finally:
        if loader is not None:
            loader.dispose()
    builder = _Builder(yaml.SafeLoader(""))
    if root is None:
        return ParseResult(YamlDocument(None, {(): 1}), [])
    data = builder.build(root, (), 0)
    builder.lines[()] = _line(root)
    return ParseResult(YamlDocument(data, builder.lines, builder.broken), builder.problems)


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _syntax_problem(exc: yaml.MarkedYAMLError, text: str) -> YamlProblem:
    mark = exc.problem_mark or exc.context_mark
    line = int(mark.line) + 1 if mark is not None else 1
    parts = [p for p in (exc.context, exc.problem) if p]
    message = "YAML syntax error: " + (", ".join(parts) if parts else "unreadable document")
    if exc.context_mark is not None and exc.problem_mark is not None and exc.context:
        if exc.context_mark.line != exc.problem_mark.line:
            message += f" (started at line {exc.context_mark.line + 1})"
    return YamlProblem(line, message)


class _Builder:
    """Turns a composed node graph into dicts, lists and scalars, noting lines and problems."""

    def __init__(self, constructor: yaml.SafeLoader) -> None:
        self.constructor = constructor
        self.lines: dict[Path_, int] = {}
        self.problems: list[YamlProblem] = []
        self.broken: set[Path_] = set()
        self.nodes = 0
        self.too_big = False
        self.active: set[int] = set()

    def problem(self, node: Node, message: str, path: Path_ | None = None) -> None:
        self.problems.append(YamlProblem(_line(node), message))
        if path is not None:
            self.broken.add(path)

    def build(self, node: Node, path: Path_, depth: int) -> object:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            if not self.too_big:
                self.too_big = True
                message = f"document expands to more than {MAX_NODES} values (aliases?)"
                self.problem(node, message, path)
            return None
        if depth > MAX_DEPTH:
            self.problem(node, f"nesting deeper than {MAX_DEPTH} levels", path)
            return None
        if id(node) in self.active:
            self.problem(node, "an alias refers to a node that contains it", path)
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self.mapping(node, path, depth)
            if isinstance(node, SequenceNode):
                return self.sequence(node, path, depth)
            return self.scalar(node, path)
        finally:
            self.active.discard(id(node))

    def scalar(self, node: Node, path: Path_) -> object:
        if node.tag == _TAG + "timestamp":
            return str(node.value)
        try:
            value = self.constructor.construct_object(node, deep=True)
        except Exception:
            # Explicit tags bypass the resolver (`!!int abc`, `!!timestamp x`, `!custom`) and
            # PyYAML then fails with anything from ConstructorError to ValueError or TypeError.
            self.problem(node, f"cannot read {node.value!r} as {_short_tag(node.tag)}", path)
            return None
        if not isinstance(value, str | int | float | bool | None):
            self.problem(node, f"unsupported value type {_short_tag(node.tag)}", path)
            return None
        return value

    def sequence(self, node: SequenceNode, path: Path_, depth: int) -> list[object]:
        if node.tag != _TAG + "seq":
            self.problem(node, f"unsupported tag {_short_tag(node.tag)} on a list")
        items: list[object] = []
        for index, child in enumerate(node.value):
            self.lines[(*path, index)] = _line(child)
            items.append(self.build(child, (*path, index), depth + 1))
        return items

    def mapping(self, node: MappingNode, path: Path_, depth: int) -> dict[str, object]:
        if node.tag != _TAG + "map":
            self.problem(node, f"unsupported tag {_short_tag(node.tag)} on a mapping")
        result: dict[str, object] = {}
        explicit: dict[str, int] = {}
        merged: list[MappingNode] = []
        for key_node, value_node in node.value:
            if key_node.tag == _TAG + "merge":
                merged.extend(self.merge_sources(value_node))
                continue
            key = self.key(key_node)
            if key is None:
                continue
            if key in explicit:
                self.problem(key_node, f"duplicate key {key!r} (first at line {explicit[key]})")
            explicit[key] = _line(key_node)
            self.lines[(*path, key)] = _line(key_node)
            result[key] = self.build(value_node, (*path, key), depth + 1)
        # YAML merge keys (`<<: *defaults`): explicit keys win, earlier sources win.
        for source in merged:
            for key_node, value_node in source.value:
                key = self.key(key_node)
                if key is None or key in result:
                    continue
                self.lines[(*path, key)] = _line(key_node)
                result[key] = self.build(value_node, (*path, key), depth + 1)
        return result

    def merge_sources(self, node: Node) -> list[MappingNode]:
        if isinstance(node, MappingNode):
            return [node]
        if isinstance(node, SequenceNode) and all(isinstance(n, MappingNode) for n in node.value):
            return list(node.value)
        self.problem(node, "a merge key '<<' needs a mapping or a list of mappings")
        return []

    def key(self, node: Node) -> str | None:
        if not isinstance(node, ScalarNode):
            self.problem(node, "a mapping key must be a plain value, not a list or mapping")
            return None
        return str(node.value)


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag
