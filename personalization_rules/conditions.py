"""GrowthBook-compatible targeting conditions, compiled once into a tree of closures.

Rule files state *who* a rule is for in GrowthBook's condition syntax (MongoDB-like), which
shop operators already know::

    {"geo.country": {"$in": ["GB", "IE"]}, "weather.temp_c": {"$gte": 25},
     "$or": [{"visitor.type": "returning"}, {"cart.items": {"$size": {"$gt": 0}}}]}

``compile_condition`` turns such a mapping into a ``Condition`` at config load: a callable
built from small closures, so a request never re-parses or walks the YAML. Operators:
``$eq $ne $lt $lte $gt $gte`` (numbers, strings), ``$in $nin $ini $nini`` (``i`` = ignore
case), ``$all $alli $elemMatch $size $exists $type $not``, ``$regex $regexi $notRegex
$notRegexi`` (Python ``re`` syntax), ``$veq $vne $vgt $vgte $vlt $vlte`` (versions),
``$inGroup $notInGroup`` (saved groups, bound at compile time); logical ``$and $or $nor $not``.

Semantics follow growthbook-python ``core.evalCondition`` (@c444b7d) and are pinned by its
``tests/cases.json``. Worth knowing, because GrowthBook does it this way:

- a key is a dotted path into nested mappings (``"geo.country"``); a missing value is null;
- comparing a number with a non-number converts the other side: null/missing becomes 0 and a
  string goes through ``float()``, so ``{"age": {"$lt": 18}}`` matches a visitor without age;
- ``$in`` against a list attribute means "any element in common"; ``$or: []`` is true and
  ``$nor: []`` is false; ``$eq: null`` never matches (use a plain ``null`` or ``$exists``).

Deliberate differences from growthbook-python: tuples count as arrays like lists; a NaN never
compares equal; an empty mapping ``{}`` as a value means "equals {}" (as the JavaScript SDK),
not "always"; an unhashable value in ``$in`` is a non-match rather than an exception.

Errors: with ``strict=True`` (the default, and ``consentgate check``'s mode) an unknown
operator, a wrong operand type or a regex that does not compile raises ``ConditionError``
carrying the path inside the condition, for mapping to FILE:LINE. With ``strict=False`` such a
node compiles to "never matches", as GrowthBook evaluates it.
"""

from __future__ import annotations

import copy
import difflib
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any, Final, final

Test = Callable[[Any], bool]
Path = tuple[str | int, ...]

LOGICAL_OPERATORS: Final = frozenset({"$and", "$or", "$nor", "$not"})
VALUE_OPERATORS: Final = frozenset(
    {
        "$eq", "$ne", "$lt", "$lte", "$gt", "$gte",
        "$veq", "$vne", "$vlt", "$vlte", "$vgt", "$vgte",
        "$in", "$nin", "$ini", "$nini", "$all", "$alli",
        "$elemMatch", "$size", "$exists", "$type", "$not",
        "$regex", "$regexi", "$notRegex", "$notRegexi",
        "$inGroup", "$notInGroup",
    }
)  # fmt: skip
TYPE_NAMES: Final = frozenset({"string", "number", "boolean", "array", "object", "null"})

# A YAML anchor can make a condition contain itself; refuse depth before it becomes recursion.
MAX_DEPTH: Final = 64

_RELATIONS: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "$eq": operator.eq,
    "$ne": operator.ne,
    "$lt": operator.lt,
    "$lte": operator.le,
    "$gt": operator.gt,
    "$gte": operator.ge,
}
_VERSION_RELATIONS: Final = {"$v" + op[1:]: rel for op, rel in _RELATIONS.items()}
_EMPTY: Final[Mapping[str, Any]] = {}
# Attribute values that count as arrays (JSON lists; tuples from Python callers).
_ARRAY: Final = (list, tuple)


class ConditionError(ValueError):
    """A condition that cannot be compiled; ``path`` locates the offending node."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"{pointer(path)}: {message}" if path else message)
        self.path = path
        self.message = message


def pointer(path: Path) -> str:
    """``path`` as an RFC 6901 JSON Pointer, e.g. ``/$and/0/geo.country/$in``."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


@final
class Condition:
    """A compiled condition: call it with the request's attributes to get True or False.

    ``fields`` holds the full dotted paths the condition reads (``"geo.country"``), including
    those under ``$not``/``$or``; paths inside ``$elemMatch`` are relative to array items and
    are covered by the array's own path. ``roots`` holds their first segments (``"geo"``),
    which is what consent gating keys on. ``test`` is the bare closure, for hot loops that
    want to skip one call level.
    """

    __slots__ = ("test", "fields", "clauses", "required")

    def __init__(
        self,
        test: Test,
        fields: frozenset[str],
        clauses: tuple[tuple[str, Test], ...],
        required: Mapping[str, frozenset[str]],
    ) -> None:
        self.test = test
        self.fields = fields
        self.clauses = clauses
        # For indexing rules: top-level clause path -> the only str values that can match.
        self.required = required

    def __call__(self, attributes: Mapping[str, Any]) -> bool:
        return self.test(attributes)

    @property
    def roots(self) -> frozenset[str]:
        """First path segments of ``fields``: the attribute groups this condition reads."""
        return frozenset(f.split(".", 1)[0] for f in self.fields)

    def explain(self, attributes: Mapping[str, Any]) -> list[tuple[str, bool]]:
        """Each top-level clause (its key) and whether it holds, for ``rules explain``."""
        return [(key, test(attributes)) for key, test in self.clauses]

    def __repr__(self) -> str:
        return f"Condition(fields={sorted(self.fields)!r})"


def compile_condition(
    condition: Mapping[str, Any],
    *,
    strict: bool = True,
    saved_groups: Mapping[str, Sequence[Any]] | None = None,
) -> Condition:
    """Compile a GrowthBook condition mapping into a ``Condition``.

    ``strict=True`` raises ``ConditionError`` for anything GrowthBook would silently evaluate
    as false (unknown operator, wrong operand type, bad regex, unknown saved group) and for a
    top-level ``$`` key that is not ``$and``/``$or``/``$nor``/``$not``. ``strict=False`` never
    raises: such nodes never match and unknown top-level ``$`` keys are attribute names, as
    in GrowthBook. ``saved_groups`` maps group ids to their member values for ``$inGroup``.
    """
    compiler = _Compiler(strict, saved_groups or {})
    fields: set[str] = set()
    if not isinstance(condition, Mapping):
        test = compiler.invalid((), f"a condition must be a mapping, got {_kind(condition)}")
        return Condition(test, frozenset(), (("", test),), {})
    clauses = compiler.clauses(condition, (), 0, fields)
    required = {
        key: values
        for key, value in condition.items()
        if isinstance(key, str)
        and not key.startswith("$")
        and (values := _required(value)) is not None
    }
    return Condition(_all_of([t for _, t in clauses]), frozenset(fields), tuple(clauses), required)


def condition_errors(
    condition: Mapping[str, Any], *, saved_groups: Mapping[str, Sequence[Any]] | None = None
) -> list[ConditionError]:
    """Every problem ``compile_condition(condition)`` would raise the first of, in order.

    ``consentgate check`` reports them all, so two mistakes on one line are fixed in one go.
    """
    found: list[ConditionError] = []
    compiler = _Compiler(True, saved_groups or {}, found)
    if not isinstance(condition, Mapping):
        compiler.invalid((), f"a condition must be a mapping, got {_kind(condition)}")
    else:
        compiler.clauses(condition, (), 0, None)
    return found


class _Compiler:
    def __init__(
        self,
        strict: bool,
        saved_groups: Mapping[str, Sequence[Any]],
        collect: list[ConditionError] | None = None,
    ) -> None:
        self.strict = strict
        self.saved_groups = saved_groups
        # When given, strict problems are gathered here instead of raised.
        self.collect = collect

    def invalid(self, path: Path, message: str) -> Test:
        if self.strict:
            if self.collect is None:
                raise ConditionError(path, message)
            self.collect.append(ConditionError(path, message))
        return _never

    # -- condition mappings: {path: value, "$and": [...], ...} --------------------------------

    def mapping(self, cond: Any, path: Path, depth: int, fields: set[str] | None) -> Test:
        if not isinstance(cond, Mapping):
            return self.invalid(path, f"expected a mapping of conditions, got {_kind(cond)}")
        return _all_of([t for _, t in self.clauses(cond, path, depth, fields)])

    def clauses(
        self, cond: Mapping[Any, Any], path: Path, depth: int, fields: set[str] | None
    ) -> list[tuple[str, Test]]:
        if depth > MAX_DEPTH:
            return [("", self.invalid(path, f"condition nested deeper than {MAX_DEPTH} levels"))]
        out: list[tuple[str, Test]] = []
        for key, value in cond.items():
            here = (*path, key)
            if not isinstance(key, str):
                out.append((str(key), self.invalid(here, "attribute names must be strings")))
            elif key in ("$and", "$or", "$nor"):
                out.append((key, self.logical(key, value, here, depth, fields)))
            elif key == "$not":
                if isinstance(value, Mapping):
                    test = _negate(self.mapping(value, here, depth + 1, fields))
                else:
                    test = self.invalid(here, f"$not expects a mapping, got {_kind(value)}")
                out.append((key, test))
            elif key.startswith("$") and self.strict:
                note = " (attribute names cannot start with '$')"
                test = self.invalid(here, _unknown(key, LOGICAL_OPERATORS, note=note))
                out.append((key, test))
            else:
                if fields is not None:
                    fields.add(key)
                if value is None or isinstance(value, str | int | float):
                    # The commonest clause, {"page.type": "product"}: fuse lookup and equality.
                    out.append((key, _at_path(key, _never, value, fused=True)))
                else:
                    out.append((key, _at_path(key, self.value(value, here, depth + 1))))
        return out

    def logical(
        self, key: str, value: Any, path: Path, depth: int, fields: set[str] | None
    ) -> Test:
        if not isinstance(value, _ARRAY):
            return self.invalid(path, f"{key} expects a list of conditions, got {_kind(value)}")
        tests = [self.mapping(c, (*path, i), depth + 1, fields) for i, c in enumerate(value)]
        if key == "$and":
            return _all_of(tests)
        # GrowthBook: an empty $or holds (so an empty $nor does not).
        either = _any_of(tests) if tests else _always
        return either if key == "$or" else _negate(either)

    # -- values: a plain value (equality) or an operator object {"$op": operand, ...} -------

    def value(self, cond: Any, path: Path, depth: int, insensitive: bool = False) -> Test:
        if depth > MAX_DEPTH:
            return self.invalid(path, f"condition nested deeper than {MAX_DEPTH} levels")
        if _is_operator_object(cond):
            return _all_of([self.operator(op, arg, (*path, op), depth) for op, arg in cond.items()])
        if (
            self.strict
            and isinstance(cond, Mapping)
            and any(isinstance(k, str) and k.startswith("$") for k in cond)
        ):
            return self.invalid(path, "a mapping mixes operators with plain keys")
        return _equals(cond, insensitive)

    def operator(self, op: str, arg: Any, path: Path, depth: int) -> Test:
        if op in _RELATIONS:
            return self.comparison(op, arg, path)
        if op in _VERSION_RELATIONS:
            if not _is_number(arg) and not isinstance(arg, str):
                return self.invalid(path, f"{op} expects a version string, got {_kind(arg)}")
            return _version_test(_VERSION_RELATIONS[op], _padded_version(arg))
        if op in ("$in", "$nin", "$ini", "$nini"):
            if not isinstance(arg, list | tuple):
                return self.invalid(path, f"{op} expects a list, got {_kind(arg)}")
            test = _membership(arg, insensitive=op.endswith("i"))
            return _negate(test) if op.startswith("$n") else test
        if op in ("$inGroup", "$notInGroup"):
            return self.group(op, arg, path)
        if op in ("$regex", "$regexi", "$notRegex", "$notRegexi"):
            return self.regex(op, arg, path)
        if op in ("$all", "$alli"):
            if not isinstance(arg, list | tuple):
                return self.invalid(path, f"{op} expects a list, got {_kind(arg)}")
            wanted = [
                self.value(c, (*path, i), depth + 1, op == "$alli") for i, c in enumerate(arg)
            ]
            return _contains_all(wanted)
        if op == "$elemMatch":
            if not isinstance(arg, Mapping):
                return self.invalid(path, f"$elemMatch expects a mapping, got {_kind(arg)}")
            if _is_operator_object(arg):
                return _any_element(self.value(arg, path, depth + 1))
            return _any_element(_on_mapping(self.mapping(arg, path, depth + 1, None)))
        if op == "$size":
            if not (isinstance(arg, int) and not isinstance(arg, bool) and arg >= 0) and not (
                _is_operator_object(arg)
            ):
                return self.invalid(
                    path, f"$size expects a count or an operator mapping, got {_kind(arg)}"
                )
            return _size(self.value(arg, path, depth + 1))
        if op == "$exists":
            if not isinstance(arg, bool):
                return self.invalid(path, f"$exists expects true or false, got {_kind(arg)}")
            return _is_not_none if arg else _is_none
        if op == "$type":
            if not isinstance(arg, str) or arg not in TYPE_NAMES:
                return self.invalid(
                    path, f"$type expects one of {', '.join(sorted(TYPE_NAMES))}, got {arg!r}"
                )
            return lambda v: _type_name(v) == arg
        if op == "$not":
            return _negate(self.value(arg, path, depth + 1))
        return self.invalid(path, _unknown(op, VALUE_OPERATORS))

    def comparison(self, op: str, arg: Any, path: Path) -> Test:
        relation = _RELATIONS[op]
        if op in ("$eq", "$ne"):
            if not (isinstance(arg, str | bool) or _is_number(arg)):
                hint = " (use a plain null or $exists)" if arg is None else ""
                return self.invalid(
                    path, f"{op} expects a string, number or boolean, got {_kind(arg)}{hint}"
                )
        elif not (isinstance(arg, str) or _is_number(arg)):
            return self.invalid(path, f"{op} expects a number or string, got {_kind(arg)}")
        return _comparison(relation, arg)

    def group(self, op: str, arg: Any, path: Path) -> Test:
        if not isinstance(arg, str):
            return self.invalid(path, f"{op} expects a saved group id, got {_kind(arg)}")
        members = self.saved_groups.get(arg)
        if members is None:
            if self.strict:
                return self.invalid(path, _unknown(arg, self.saved_groups, "saved group"))
            # GrowthBook: nobody is in an unknown group.
            return _never if op == "$inGroup" else _always
        test = _membership(members or [], insensitive=False)
        return test if op == "$inGroup" else _negate(test)

    def regex(self, op: str, arg: Any, path: Path) -> Test:
        if not isinstance(arg, str):
            return self.invalid(path, f"{op} expects a pattern string, got {_kind(arg)}")
        try:
            # Patterns come from operators' rule files; values (user agents, paths) do not.
            pattern = re.compile(arg, re.IGNORECASE if op.endswith("i") else 0)
        except re.error as exc:
            return self.invalid(path, f"invalid regular expression {arg!r}: {exc}")
        search = pattern.search
        if op.startswith("$not"):
            # GrowthBook: a non-string value fails both $regex and $notRegex.
            return lambda v: isinstance(v, str) and search(v) is None
        return lambda v: isinstance(v, str) and search(v) is not None


# -- small closures -------------------------------------------------------------------------


def _never(_: Any) -> bool:
    return False


def _always(_: Any) -> bool:
    return True


def _is_none(value: Any) -> bool:
    return value is None


def _is_not_none(value: Any) -> bool:
    return value is not None


def _negate(test: Test) -> Test:
    if test is _never:
        return _always
    if test is _always:
        return _never
    return lambda v: not test(v)


def _all_of(tests: list[Test]) -> Test:
    tests = [t for t in tests if t is not _always]
    if _never in tests:
        return _never
    if not tests:
        return _always
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda v: first(v) and second(v)
    chain = tuple(tests)

    def all_of(value: Any) -> bool:
        for test in chain:
            if not test(value):
                return False
        return True

    return all_of


def _any_of(tests: list[Test]) -> Test:
    if len(tests) == 1:
        return tests[0]
    chain = tuple(tests)

    def any_of(value: Any) -> bool:
        for test in chain:
            if test(value):
                return True
        return False

    return any_of


def _at_path(key: str, test: Test, equals: Any = None, fused: bool = False) -> Test:
    """Apply ``test`` to the value at dotted ``key`` of a mapping (None when absent).

    With ``fused`` the test is plain equality with ``equals``, inlined to save a call level.
    """
    segments = key.split(".")
    if len(segments) == 1:
        if fused:
            return lambda attributes: bool(attributes.get(key) == equals)
        return lambda attributes: test(attributes.get(key))
    if len(segments) == 2:
        outer, inner = segments
        # Hot path: two levels ("geo.country") of plain dicts, checked by exact type first.
        if fused:

            def equal_at_2(attributes: Mapping[str, Any]) -> bool:
                value = attributes.get(outer)
                if type(value) is dict or isinstance(value, Mapping):
                    return bool(value.get(inner) == equals)
                return equals is None

            return equal_at_2

        def at_2(attributes: Mapping[str, Any]) -> bool:
            value = attributes.get(outer)
            if type(value) is dict or isinstance(value, Mapping):
                return test(value.get(inner))
            return test(None)

        return at_2
    if fused:
        test = _equals(equals, False)
    first, *rest = segments

    def at_path(attributes: Mapping[str, Any]) -> bool:
        value = attributes.get(first)
        for segment in rest:
            if type(value) is dict or isinstance(value, Mapping):
                value = value.get(segment)
            else:
                return test(None)
        return test(value)

    return at_path


def _on_mapping(test: Test) -> Test:
    # $elemMatch items that are not mappings have no fields: every path reads as null.
    return lambda item: test(item if isinstance(item, Mapping) else _EMPTY)


def _equals(expected: Any, insensitive: bool) -> Test:
    if insensitive and isinstance(expected, str):
        folded = expected.lower()
        return lambda v: v.lower() == folded if isinstance(v, str) else v == expected
    # A private copy: the rule's result must not change if the parsed YAML is mutated later.
    frozen = copy.deepcopy(expected)
    return lambda v: bool(v == frozen)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _comparison(relation: Callable[[Any, Any], Any], arg: Any) -> Test:
    """GrowthBook ``compare()``: exact types compare directly, mixed ones coerce (see module)."""
    if _is_number(arg):

        def number_test(v: Any) -> bool:
            kind = type(v)
            if kind is int or kind is float:
                return relation(v, arg)  # type: ignore[no-any-return]
            if v is None:  # GrowthBook: a missing value counts as 0 against a number
                return relation(0, arg)  # type: ignore[no-any-return]
            return _mixed(relation, v, arg)

        return number_test
    if isinstance(arg, str):
        try:
            as_number: float | None = float(arg)
        except ValueError:
            as_number = None

        def string_test(v: Any) -> bool:
            kind = type(v)
            if kind is str:
                return relation(v, arg)  # type: ignore[no-any-return]
            if (kind is int or kind is float) and as_number is not None:
                return relation(v, as_number)  # type: ignore[no-any-return]
            return _mixed(relation, v, arg)

        return string_test
    return lambda v: _mixed(relation, v, arg)


def _mixed(relation: Callable[[Any, Any], Any], left: Any, right: Any) -> bool:
    try:
        if _is_number(left) and not _is_number(right):
            right = 0 if right is None else float(right)
        elif _is_number(right) and not _is_number(left):
            left = 0 if left is None else float(left)
        if _is_number(left) and _is_number(right):
            return bool(relation(left, right))
        # GrowthBook derives every relation, $eq/$ne included, from > and <; values that do
        # not order (null against a string, a list against a mapping) match nothing.
        return bool(relation((left > right) - (left < right), 0))
    except (TypeError, ValueError):
        return False


_VERSION_PREFIX_OR_BUILD: Final = re.compile(r"^v|\+.*$")
_VERSION_SEPARATORS: Final = re.compile(r"[-.]")


def _padded_text(version: str) -> str:
    # GrowthBook paddedVersionString: drop a leading "v" and "+build", split on "-" and ".",
    # append "~" (sorts after any pre-release tag) to a bare MAJOR.MINOR.PATCH, and left-pad
    # numeric parts to width 5 so plain string order is version order.
    parts = _VERSION_SEPARATORS.split(_VERSION_PREFIX_OR_BUILD.sub("", version))
    if len(parts) == 3:
        parts.append("~")
    return "-".join(p.rjust(5) if p.isascii() and p.isdigit() else p for p in parts)


# Versions repeat across requests (app and browser versions); cache short ones only, so a
# visitor cannot fill memory with long attribute values.
_padded_cached: Final = lru_cache(maxsize=1024)(_padded_text)
_CACHED_VERSION_LENGTH: Final = 64


def _padded_version(value: Any) -> str:
    if _is_number(value):
        value = str(value)
    if not value or not isinstance(value, str):
        value = "0"
    if len(value) <= _CACHED_VERSION_LENGTH:
        return _padded_cached(value)
    return _padded_text(value)


def _version_test(relation: Callable[[Any, Any], Any], padded: str) -> Test:
    return lambda v: bool(relation(_padded_version(v), padded))


def _fold(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _membership(members: Iterable[Any], insensitive: bool) -> Test:
    """GrowthBook ``isIn``: value in members, or, for a list value, any element in common."""
    pool = [_fold(m) for m in members] if insensitive else copy.deepcopy(list(members))
    try:
        lookup: frozenset[Any] | list[Any] = frozenset(pool)
    except TypeError:  # unhashable members (lists, mappings): linear scan
        lookup = pool

    def contains(value: Any) -> bool:
        if insensitive:
            value = _fold(value)
        try:
            return value in lookup
        except TypeError:  # an unhashable value cannot equal a hashable member
            return False

    def is_in(value: Any) -> bool:
        if type(value) is str and not insensitive:
            return value in lookup
        if isinstance(value, _ARRAY):
            for element in value:
                if contains(element):
                    return True
            return False
        return contains(value)

    return is_in


def _any_element(test: Test) -> Test:
    def any_element(value: Any) -> bool:
        if not isinstance(value, _ARRAY):
            return False
        for element in value:
            if test(element):
                return True
        return False

    return any_element


def _contains_all(wanted: list[Test]) -> Test:
    def contains_all(value: Any) -> bool:
        if not isinstance(value, _ARRAY):
            return False
        return all(any(test(element) for element in value) for test in wanted)

    return contains_all


def _size(test: Test) -> Test:
    return lambda v: isinstance(v, _ARRAY) and test(len(v))


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple | set | frozenset):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return "unknown"


def _is_operator_object(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and len(value) > 0
        and all(isinstance(k, str) and k.startswith("$") for k in value)
    )


def _required(value: Any) -> frozenset[str] | None:
    """The str values a top-level clause can match, when it is a plain or ``$in`` string test."""
    if isinstance(value, str):
        return frozenset({value})
    if (
        isinstance(value, Mapping)
        and set(value) == {"$in"}
        and isinstance(value["$in"], list | tuple)
        and all(isinstance(v, str) for v in value["$in"])
    ):
        return frozenset(value["$in"])
    return None


def _kind(value: Any) -> str:
    return "null" if value is None else _type_name(value).replace("unknown", type(value).__name__)


def _unknown(name: str, known: Iterable[str], what: str = "operator", note: str = "") -> str:
    message = f"unknown {what} {name!r}{note}"
    close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.6)
    if close:
        message += "; did you mean " + " or ".join(repr(c) for c in close) + "?"
    return message
