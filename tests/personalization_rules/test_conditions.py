"""Tests for personalization_rules/conditions.py.

Conformance: every ``evalCondition`` case of growthbook-python ``tests/cases.json`` @c444b7d
(MIT), vendored in ``tests/data/growthbook/cases.json`` (see its PROVENANCE).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from personalization_rules.conditions import (
    MAX_DEPTH,
    Condition,
    ConditionError,
    compile_condition,
    condition_errors,
    pointer,
)

CASES_FILE = Path(__file__).resolve().parents[1] / "data" / "growthbook" / "cases.json"


def _eval_cases() -> list[Any]:
    cases = json.loads(CASES_FILE.read_text(encoding="utf-8"))["evalCondition"]
    return [pytest.param(c, id=c[0]) for c in cases]


EVAL_CASES = _eval_cases()

# Conformance cases that strict mode (consentgate check) refuses at compile time, by design.
STRICT_REJECTS = {
    "$groups - match",  # "$groups" is an attribute there; our attribute names never start with $
    "$groups - no match",
    "$in - not array",
    "$nin - not array",
    "unknown operator - pass",
    "$regex invalid - pass",
    "$regex invalid - fail",
    "$inGroup fails for unknown group id",
    "$notInGroup passes for unknown group id",
}


@pytest.mark.parametrize("case", EVAL_CASES)
def test_eval_condition_conformance(case: list[Any]) -> None:
    _, condition, attributes, expected, *rest = case
    saved_groups = rest[0] if rest else None
    compiled = compile_condition(condition, strict=False, saved_groups=saved_groups)
    assert compiled(attributes) is expected


@pytest.mark.parametrize("case", EVAL_CASES)
def test_strict_mode_agrees_or_rejects(case: list[Any]) -> None:
    name, condition, attributes, expected, *rest = case
    saved_groups = rest[0] if rest else None
    if name in STRICT_REJECTS:
        with pytest.raises(ConditionError):
            compile_condition(condition, strict=True, saved_groups=saved_groups)
    else:
        assert compile_condition(condition, saved_groups=saved_groups)(attributes) is expected


GROUPS = {"vip": ["u1", "u2"], "staff": ["s1"]}


@pytest.mark.parametrize(
    ("condition", "path", "message"),
    [
        ({"age": {"$inn": [1]}}, ("age", "$inn"), "unknown operator '$inn'; did you mean '$in'"),
        ({"a": {"$regx": "x"}}, ("a", "$regx"), "did you mean '$regex'"),
        ({"a": {"$zzzz": 1}}, ("a", "$zzzz"), "unknown operator '$zzzz'"),
        (
            {"$nott": {"a": 1}},
            ("$nott",),
            "'$nott' (attribute names cannot start with '$'); did you mean '$not'",
        ),
        ({"age": {"$in": 5}}, ("age", "$in"), "$in expects a list, got number"),
        ({"age": {"$nini": "a"}}, ("age", "$nini"), "$nini expects a list, got string"),
        ({"$and": {"a": 1}}, ("$and",), "$and expects a list of conditions, got object"),
        ({"$or": "a"}, ("$or",), "$or expects a list of conditions, got string"),
        ({"$and": [{"a": 1}, 5]}, ("$and", 1), "expected a mapping of conditions, got number"),
        ({"$not": [1]}, ("$not",), "$not expects a mapping, got array"),
        (
            {"$or": [{"ua": {"$regex": "(Mobile"}}]},
            ("$or", 0, "ua", "$regex"),
            "invalid regular expression '(Mobile'",
        ),
        ({"a": {"$regexi": 5}}, ("a", "$regexi"), "$regexi expects a pattern string"),
        ({"a": {"$exists": "yes"}}, ("a", "$exists"), "$exists expects true or false"),
        ({"a": {"$type": "str"}}, ("a", "$type"), "$type expects one of array, boolean"),
        ({"a": {"$size": "3"}}, ("a", "$size"), "$size expects a count"),
        ({"a": {"$size": -1}}, ("a", "$size"), "$size expects a count"),
        ({"a": {"$size": True}}, ("a", "$size"), "$size expects a count"),
        ({"a": {"$size": {"$gtt": 1}}}, ("a", "$size", "$gtt"), "unknown operator '$gtt'"),
        ({"a": {"$elemMatch": [1]}}, ("a", "$elemMatch"), "$elemMatch expects a mapping"),
        ({"a": {"$elemMatch": {"b": {"$lte": []}}}}, ("a", "$elemMatch", "b", "$lte"), "$lte"),
        ({"a": {"$all": "x"}}, ("a", "$all"), "$all expects a list"),
        ({"a": {"$all": [{"$bad": 1}]}}, ("a", "$all", 0, "$bad"), "unknown operator"),
        ({"a": {"$gt": None}}, ("a", "$gt"), "$gt expects a number or string, got null"),
        ({"a": {"$gt": True}}, ("a", "$gt"), "$gt expects a number or string, got boolean"),
        ({"a": {"$eq": None}}, ("a", "$eq"), "(use a plain null or $exists)"),
        ({"a": {"$ne": [1]}}, ("a", "$ne"), "$ne expects a string, number or boolean"),
        ({"a": {"$vgt": [1]}}, ("a", "$vgt"), "$vgt expects a version string, got array"),
        ({"a": {"$inGroup": "vipp"}}, ("a", "$inGroup"), "unknown saved group 'vipp'; did you"),
        ({"a": {"$notInGroup": 5}}, ("a", "$notInGroup"), "expects a saved group id"),
        ({"a": {"$in": [1], "b": 2}}, ("a",), "a mapping mixes operators with plain keys"),
        ({"a": {"$not": {"$bad": 1}}}, ("a", "$not", "$bad"), "unknown operator '$bad'"),
        ({1: "x"}, (1,), "attribute names must be strings"),
    ],
)
def test_strict_errors_name_the_path(condition: Any, path: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ConditionError) as caught:
        compile_condition(condition, saved_groups=GROUPS)
    assert caught.value.path == path
    assert message in caught.value.message
    assert str(caught.value) == f"{pointer(path)}: {caught.value.message}"
    # The same condition never raises in lenient mode and evaluates to a bool.
    lenient = compile_condition(condition, strict=False, saved_groups=GROUPS)
    assert lenient({"a": [1], "age": 3, "ua": "Mobile"}) in (True, False)


def test_lenient_invalid_node_never_matches() -> None:
    for condition in ({"a": {"$inn": [1]}}, {"a": {"$in": 1}}, {"a": {"$regex": "("}}):
        compiled = compile_condition(condition, strict=False)
        assert compiled({"a": 1}) is False
        # GrowthBook: negating a never-matching node matches.
        assert compile_condition({"$not": condition}, strict=False)({"a": 1}) is True


@pytest.mark.parametrize("root", [[{"a": 1}], "a", None, 5])
def test_root_must_be_a_mapping(root: Any) -> None:
    with pytest.raises(ConditionError) as caught:
        compile_condition(root)
    assert caught.value.path == ()
    assert str(caught.value) == caught.value.message
    assert compile_condition(root, strict=False)({}) is False


def test_self_referencing_condition_is_refused() -> None:
    # A YAML anchor can build this: `c: &c {$not: *c}`.
    loop: dict[str, Any] = {}
    loop["$not"] = loop
    with pytest.raises(ConditionError, match=f"deeper than {MAX_DEPTH}"):
        compile_condition(loop)
    assert compile_condition(loop, strict=False)({}) in (True, False)
    value_loop: dict[str, Any] = {}
    value_loop["$not"] = value_loop
    with pytest.raises(ConditionError, match="deeper than"):
        compile_condition({"a": value_loop})


def test_unknown_group_without_saved_groups_is_strict_error() -> None:
    with pytest.raises(ConditionError, match="unknown saved group 'vip'$"):
        compile_condition({"id": {"$inGroup": "vip"}})


def test_lenient_unknown_dollar_key_is_an_attribute() -> None:
    compiled = compile_condition({"$groups": {"$elemMatch": {"$eq": "a"}}}, strict=False)
    assert compiled({"$groups": ["a"]}) is True
    assert compiled.fields == {"$groups"}


@pytest.mark.parametrize(
    ("condition", "fields", "roots"),
    [
        ({}, set(), set()),
        ({"geo.country": "GB"}, {"geo.country"}, {"geo"}),
        (
            {"geo.country": {"$in": ["GB"]}, "weather.temp_c": {"$gt": 20}, "regime": "gdpr"},
            {"geo.country", "weather.temp_c", "regime"},
            {"geo", "weather", "regime"},
        ),
        (
            {"$or": [{"visitor.type": "new"}, {"$not": {"cart.value": {"$gt": 5}}}]},
            {"visitor.type", "cart.value"},
            {"visitor", "cart"},
        ),
        (
            {"$and": [{"a.b.c": 1}], "$nor": [{"d": 1}]},
            {"a.b.c", "d"},
            {"a", "d"},
        ),
        # Paths inside $elemMatch are relative to the items; the array's path covers them.
        ({"cart.items": {"$elemMatch": {"sku": "X"}}}, {"cart.items"}, {"cart"}),
        ({"id": {"$inGroup": "vip"}}, {"id"}, {"id"}),
    ],
)
def test_fields_and_roots(condition: Any, fields: set[str], roots: set[str]) -> None:
    compiled = compile_condition(condition, saved_groups=GROUPS)
    assert compiled.fields == fields
    assert compiled.roots == roots


@pytest.mark.parametrize(
    ("condition", "required"),
    [
        ({"page.type": "product", "x": 1}, {"page.type": {"product"}}),
        ({"page.type": {"$in": ["home", "cart"]}}, {"page.type": {"home", "cart"}}),
        ({"page.type": {"$in": ["home", 1]}}, {}),
        ({"page.type": {"$in": ["a"], "$ne": "b"}}, {}),
        ({"page.type": {"$ini": ["a"]}}, {}),
        ({"$or": [{"page.type": "a"}]}, {}),
        ({"$not": {"$in": ["a"]}}, {}),
    ],
)
def test_required_values_for_indexing(
    condition: Mapping[str, Any], required: dict[str, set[str]]
) -> None:
    assert compile_condition(condition, strict=False).required == required


def test_required_values_are_sound() -> None:
    # A str value outside `required` never matches: the index may skip the rule.
    compiled = compile_condition({"page.type": {"$in": ["home", "cart"]}, "x": {"$gt": 0}})
    assert compiled({"page": {"type": "home"}, "x": 1}) is True
    assert compiled({"page": {"type": "product"}, "x": 1}) is False


def test_explain_reports_each_top_level_clause() -> None:
    compiled = compile_condition({"geo.country": "GB", "weather.temp_c": {"$gte": 20}})
    attributes = {"geo": {"country": "GB"}, "weather": {"temp_c": 9}}
    assert compiled.explain(attributes) == [("geo.country", True), ("weather.temp_c", False)]
    assert compiled(attributes) is False
    assert repr(compiled) == "Condition(fields=['geo.country', 'weather.temp_c'])"


# Beyond the conformance file: paths, coercions and our deliberate differences.
@pytest.mark.parametrize(
    ("condition", "attributes", "expected"),
    [
        # dotted paths of every depth, through non-dict mappings and dead ends
        ({"a.b.c": 1}, {"a": {"b": {"c": 1}}}, True),
        ({"a.b.c": 1}, {"a": {"b": 5}}, False),
        ({"a.b.c": None}, {"a": "x"}, True),
        ({"a.b": 1}, {"a": MappingProxyType({"b": 1})}, True),
        ({"a.b": {"$gt": 0}}, {"a": MappingProxyType({"b": 1})}, True),
        ({"a.b": {"$gt": 0}}, {"a": [1]}, False),
        ({"a.b": None}, {"a": 3}, True),
        ({"a.b.c": {"$exists": False}}, {"a": {"b": None}}, True),
        ({"a.b.c": {"$exists": True}}, {"a": MappingProxyType({"b": {"c": 0}})}, True),
        # comparison coercion (GrowthBook compare())
        ({"n": {"$gt": "5"}}, {"n": 8}, True),
        ({"n": {"$gt": "five"}}, {"n": 8}, False),
        ({"n": {"$gt": "5"}}, {"n": "8"}, True),
        ({"n": {"$gt": "5"}}, {"n": None}, False),
        ({"n": {"$gt": 5}}, {"n": True}, False),
        ({"n": {"$lt": 5}}, {"n": "4.5"}, True),
        ({"n": {"$lt": 5}}, {"n": "abc"}, False),
        ({"n": {"$lt": 5}}, {"n": [1]}, False),
        ({"n": {"$lt": 18}}, {}, True),  # missing counts as 0, as in GrowthBook
        ({"n": {"$eq": True}}, {"n": True}, True),
        ({"n": {"$eq": True}}, {"n": 1}, True),
        ({"n": {"$ne": "x"}}, {"n": None}, False),
        ({"n": {"$eq": 1}}, {"n": math.nan}, False),  # NaN never equals
        ({"n": {"$gte": 1}}, {"n": "nan"}, False),
        # plain equality
        ({"n": 1}, {"n": 1.0}, True),
        ({"n": [1, {"a": 2}]}, {"n": [1, {"a": 2}]}, True),
        ({"n": {}}, {"n": {}}, True),  # {} means "equals {}" (JavaScript SDK)
        ({"n": {}}, {"n": {"a": 1}}, False),
        # membership
        ({"t": {"$in": ["a"]}}, {"t": ("x", "a")}, True),  # tuples are arrays
        ({"t": {"$in": ["a"]}}, {"t": {"a": 1}}, False),  # unhashable value
        ({"t": {"$in": ["a"]}}, {"t": [["a"], {"b": 1}, "a"]}, True),
        ({"t": {"$in": [[1], {"a": 1}]}}, {"t": {"a": 1}}, True),  # unhashable members
        ({"t": {"$in": [1, 2]}}, {"t": 2.0}, True),
        ({"t": {"$nin": []}}, {}, True),
        ({"t": {"$ini": ["A", 1]}}, {"t": 1}, True),
        ({"t": {"$ini": ["A"]}}, {"t": ("x", "a")}, True),
        ({"t": {"$nini": ["A"]}}, {"t": ["B"]}, True),
        ({"id": {"$inGroup": "vip"}}, {"id": ["x", "u2"]}, True),
        ({"id": {"$notInGroup": "vip"}}, {"id": "u3"}, True),
        ({"id": {"$inGroup": "empty"}}, {"id": None}, False),
        # arrays
        ({"t": {"$all": ["A", "b"]}}, {"t": ["a", "b"]}, False),
        ({"t": {"$alli": ["A", "b"]}}, {"t": ("a", "B")}, True),
        ({"t": {"$alli": [1]}}, {"t": [1]}, True),
        ({"t": {"$all": []}}, {"t": []}, True),
        ({"t": {"$elemMatch": {"x": 1}}}, {"t": [1, "x", {"x": 1}]}, True),
        ({"t": {"$elemMatch": {"x": None}}}, {"t": [5]}, True),  # non-mapping item: all null
        ({"t": {"$size": 2}}, {"t": (1, 2)}, True),
        ({"t": {"$type": "array"}}, {"t": (1,)}, True),
        ({"t": {"$type": "number"}}, {"t": 1.5}, True),
        ({"t": {"$type": "object"}}, {"t": MappingProxyType({})}, True),
        ({"t": {"$type": "string"}}, {"t": object()}, False),
        # regexes and versions on non-strings
        ({"ua": {"$regex": "1"}}, {"ua": 1}, False),
        ({"ua": {"$notRegex": "1"}}, {"ua": 1}, False),
        ({"ua": {"$notRegex": "1"}}, {"ua": "2"}, True),
        ({"v": {"$vgt": "1.0.0"}}, {"v": 2}, True),
        ({"v": {"$vlt": 2}}, {"v": "1.9.9"}, True),
        ({"v": {"$vlt": "1.0.0"}}, {"v": None}, True),  # missing reads as "0"
        ({"v": {"$veq": "1.2.3"}}, {"v": "1.2.3+" + "b" * 200}, True),  # long: uncached
        # logic
        ({"$nor": []}, {}, False),
        ({"$or": [{"a": 1}]}, {"a": 1}, True),
        ({"$or": [{"a": 1}, {"b": 1}, {"c": 1}]}, {"c": 1}, True),
        ({"$or": [{"a": 1}, {"b": 1}, {"c": 1}]}, {}, False),
        ({"$and": [{"a": 1}, {"b": 1}, {"c": 1}]}, {"a": 1, "b": 1, "c": 1}, True),
        ({"$and": [{"a": 1}, {"b": 1}, {"c": 1}]}, {"a": 1, "b": 1}, False),
        ({"a": {"$not": 1}}, {"a": 2}, True),
    ],
)
def test_semantics(condition: Any, attributes: Mapping[str, Any], expected: bool) -> None:
    groups = {**GROUPS, "empty": []}
    assert compile_condition(condition, saved_groups=groups)(attributes) is expected


def test_lenient_mixed_mapping_is_plain_equality() -> None:
    compiled = compile_condition({"a": {"$x": 1, "b": 2}}, strict=False)
    assert compiled({"a": {"$x": 1, "b": 2}}) is True
    assert compiled({"a": {"b": 2}}) is False


def test_lenient_non_string_key_never_matches() -> None:
    assert compile_condition({1: 1}, strict=False)({1: 1}) is False  # type: ignore[dict-item]


def test_compiled_condition_ignores_later_mutation_of_the_source() -> None:
    source: dict[str, Any] = {"tags": ["a", "b"], "id": {"$in": ["u1"]}}
    compiled = compile_condition(source)
    source["tags"].append("c")
    source["id"]["$in"].append("u9")
    assert compiled({"tags": ["a", "b"], "id": "u1"}) is True
    assert compiled({"tags": ["a", "b"], "id": "u9"}) is False


def test_condition_is_callable_and_exposes_test() -> None:
    compiled = compile_condition({"a": 1})
    assert isinstance(compiled, Condition)
    assert compiled.test({"a": 1}) is compiled({"a": 1}) is True


@pytest.mark.parametrize(
    ("path", "expected"),
    [((), ""), (("$and", 0, "geo.country"), "/$and/0/geo.country"), (("a/b~c",), "/a~1b~0c")],
)
def test_pointer_is_rfc6901(path: tuple[str | int, ...], expected: str) -> None:
    assert pointer(path) == expected


JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)
OPERAND = st.one_of(
    st.integers(), st.text(max_size=5), st.lists(st.integers() | st.text(max_size=2))
)


@settings(deadline=None)
@given(
    value=JSON_VALUES,
    op=st.sampled_from(["$eq", "$ne", "$lt", "$gte", "$in", "$ini", "$regex", "$vgt", "$size"]),
    operand=OPERAND,
)
def test_not_negates_and_lenient_never_raises(value: Any, op: str, operand: Any) -> None:
    positive = compile_condition({"a": {op: operand}}, strict=False)
    negative = compile_condition({"a": {"$not": {op: operand}}}, strict=False)
    attributes = {"a": value}
    assert positive(attributes) is not negative(attributes)
    try:
        strict = compile_condition({"a": {op: operand}})
    except ConditionError:
        return
    assert strict(attributes) is positive(attributes)


@settings(deadline=None)
@given(value=JSON_VALUES, members=st.lists(JSON_SCALARS, max_size=4))
def test_nin_is_the_negation_of_in(value: Any, members: list[Any]) -> None:
    attributes = {"a": value}
    in_ = compile_condition({"a": {"$in": members}})(attributes)
    assert compile_condition({"a": {"$nin": members}})(attributes) is not in_


def test_condition_errors_lists_every_problem_compile_would_raise_the_first_of() -> None:
    cond = {
        "geo.country": {"$inn": ["GB"]},
        "$xor": [],
        "device": {"$eqq": "mobile", "$regex": "("},
        "$or": [{"a": {"$size": "x"}}],
    }
    found = [(e.path, e.message.split(";")[0]) for e in condition_errors(cond)]
    assert found == [
        (("geo.country", "$inn"), "unknown operator '$inn'"),
        (("$xor",), "unknown operator '$xor' (attribute names cannot start with '$')"),
        (("device", "$eqq"), "unknown operator '$eqq'"),
        (
            ("device", "$regex"),
            "invalid regular expression '(': missing ), unterminated subpattern at position 0",
        ),
        (("$or", 0, "a", "$size"), "$size expects a count or an operator mapping, got string"),
    ]
    with pytest.raises(ConditionError) as first:
        compile_condition(cond)
    assert first.value.path == found[0][0]
    assert condition_errors({"geo.country": {"$in": ["GB"]}}) == []
    assert [e.message for e in condition_errors([])] == ["a condition must be a mapping, got array"]  # type: ignore[arg-type]
