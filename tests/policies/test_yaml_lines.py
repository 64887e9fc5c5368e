"""`policies.yaml_lines`: data, the line of every path, and problems instead of exceptions."""

from __future__ import annotations

import pytest

from policies.yaml_lines import MAX_NODES, YamlDocument, YamlProblem, decode, parse


def test_records_the_line_of_every_key_and_item() -> None:
    result = parse("# c\ngateway:\n  port: 1\nlist:\n  - a\n  -\n    b: 2\n")
    assert result.problems == []
    document = result.document
    assert document is not None
    assert document.data == {"gateway": {"port": 1}, "list": ["a", {"b": 2}]}
    assert document.lines == {
        (): 2,
        ("gateway",): 2,
        ("gateway", "port"): 3,
        ("list",): 4,
        ("list", 0): 5,
        ("list", 1): 7,
        ("list", 1, "b"): 7,
    }


def test_line_of_falls_back_to_the_nearest_ancestor() -> None:
    document = YamlDocument({}, {(): 3, ("a",): 5})
    assert document.line_of(("a", "missing", 0)) == 5
    assert document.line_of(("zzz",)) == 3
    assert YamlDocument(None).line_of(("x",)) == 1


@pytest.mark.parametrize(
    ("text", "data"),
    [
        ("NO: 1\n1: a\ntrue: b\n~: c\n", {"NO": 1, "1": "a", "true": "b", "~": "c"}),
        ("v: 2024-01-31\n", {"v": "2024-01-31"}),  # timestamps stay text
        ("v: 2020-13-45\n", {"v": "2020-13-45"}),  # PyYAML would raise ValueError
        ("v: NO\n", {"v": False}),  # values keep YAML 1.1 meaning; models explain it
        (
            "d: &d {x: 1, y: 2}\ne:\n  <<: *d\n  y: 3\n",
            {"d": {"x": 1, "y": 2}, "e": {"y": 3, "x": 1}},
        ),
        ("e:\n  <<: [{x: 1}, {x: 2, z: 3}]\n", {"e": {"x": 1, "z": 3}}),
    ],
)
def test_values(text: str, data: object) -> None:
    result = parse(text)
    assert result.problems == []
    assert result.document is not None and result.document.data == data


def test_empty_document() -> None:
    result = parse("# only a comment\n")
    assert result.problems == [] and result.document is not None
    assert result.document.data is None


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        ("a: 1\nb: 2\na: 3\n", [YamlProblem(3, "duplicate key 'a' (first at line 1)")]),
        ("a: [1\n", None),  # syntax error: document is None
        ("x: !!int abc\n", [YamlProblem(1, "cannot read 'abc' as !!int")]),
        ("x: !!float abc\n", [YamlProblem(1, "cannot read 'abc' as !!float")]),
        ("x: !custom 1\n", [YamlProblem(1, "cannot read '1' as !custom")]),
        ("x: !!binary aGk=\n", [YamlProblem(1, "unsupported value type !!binary")]),
        ("x: !!set {a}\n", [YamlProblem(1, "unsupported tag !!set on a mapping")]),
        ("x: !!omap [a: 1]\n", [YamlProblem(1, "unsupported tag !!omap on a list")]),
        ("a: &a [*a]\n", [YamlProblem(1, "an alias refers to a node that contains it")]),
        (
            "? [a]\n: 1\n",
            [YamlProblem(1, "a mapping key must be a plain value, not a list or mapping")],
        ),
        (
            "e:\n  <<: 5\n",
            [YamlProblem(2, "a merge key '<<' needs a mapping or a list of mappings")],
        ),
        ("\nx: " + "[" * 70 + "]" * 70, [YamlProblem(2, "nesting deeper than 64 levels")]),
    ],
)
def test_problems_are_collected_not_raised(text: str, problems: list[YamlProblem] | None) -> None:
    result = parse(text)
    if problems is None:
        assert result.document is None and len(result.problems) == 1
    else:
        assert result.problems == problems


def test_alias_bomb_is_bounded() -> None:
    # "Billion laughs": nine levels of ten aliases each would expand to 10**9 values.
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    result = parse("\n".join(lines))
    assert [p.message for p in result.problems] == [
        f"document expands to more than {MAX_NODES} values (aliases?)"
    ]


def test_syntax_error_carries_the_parser_line() -> None:
    result = parse("a: 1\nb: 'unterminated\nc: 2\n")
    assert result.document is None
    [problem] = result.problems
    assert problem.line == 4
    assert problem.message.startswith("YAML syntax error: while scanning a quoted scalar")


@pytest.mark.parametrize(
    ("raw", "text", "problem"),
    [
        (b"a: 1\n", "a: 1\n", None),
        (b"\xef\xbb\xbfa: 1\n", "a: 1\n", None),  # UTF-8 BOM
        ("a: é\n".encode("utf-16"), "a: é\n", None),
        (b"a: 1\nb: \xff\n", None, YamlProblem(2, "not valid UTF-8 text (invalid start byte)")),
        (
            b"\xff\xfea\x00\x00\xd8",
            None,
            YamlProblem(1, "not valid UTF-16 text (unexpected end of data)"),
        ),
    ],
)
def test_decode(raw: bytes, text: str | None, problem: YamlProblem | None) -> None:
    assert decode(raw) == (text, problem)
