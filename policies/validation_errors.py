"""Turn a pydantic `ValidationError` into one `(line, message)` per problem in a YAML file.

Pydantic reports a `loc` tuple such as `("gateway", "trusted_proxies", 0, "lax-or-strict[…]")`.
Segments that exist in the data are a path into the YAML document (whose lines
`policies.yaml_lines` recorded); the others name the member of a union type that was tried.
One wrong value under a union yields one error per member, so those are folded into one
message, keeping the members that got furthest into the value (a dict given to
`opt_in | dict[str, …]` is judged as a dict, not as "not 'opt_in'").
"""

from __future__ import annotations

import difflib
import ipaddress
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from policies.yaml_lines import Path_, YamlDocument, YamlProblem

# Pydantic error types that only say "this member of a union wants another shape".
_SHAPE_ERRORS = frozenset(
    {"model_type", "dict_type", "list_type", "model_attributes_type", "is_instance_of"}
)
# Messages that already name the offending value; the rest get "(got …)" appended.
_SELF_EXPLAINING = frozenset({"value_error", "assertion_error", "missing", "extra_forbidden"})


@dataclass(frozen=True)
class _Located:
    error: ErrorDetails
    path: Path_  # the deepest part of `loc` that exists in the data
    union_site: Path_ | None  # where a union member's tag appeared in `loc`, if one did


def describe(
    exc: ValidationError,
    document: YamlDocument,
    model: type[BaseModel],
    labels: Mapping[Path_, str] | None = None,
) -> list[YamlProblem]:
    """One problem per error in `exc`, on the line of the YAML node it is about.

    `labels` renames paths that did not come from the file (e.g. `("gateway", "upstream")` →
    `--upstream` for a command-line override); problems about them get line 0.
    """
    labels = labels or {}
    located = [_locate(error, document.data) for error in exc.errors()]
    problems: list[YamlProblem] = []
    groups: dict[Path_, list[_Located]] = {}
    for item in located:
        if any(item.path[: len(b)] == b for b in document.broken):
            continue  # the YAML reader already reported this value
        if item.union_site is None:
            problems.append(_problem(item.path, [item.error], document, model, labels))
        else:
            groups.setdefault(item.union_site, []).append(item)
    for members in groups.values():
        deepest = max(len(m.path) for m in members)
        best = [m for m in members if len(m.path) == deepest]
        for path in dict.fromkeys(m.path for m in best):
            errors = [m.error for m in best if m.path == path]
            specific = [e for e in errors if e["type"] not in _SHAPE_ERRORS]
            problems.append(_problem(path, specific or errors, document, model, labels))
    return problems


def _locate(error: ErrorDetails, data: object) -> _Located:
    path: list[str | int] = []
    union_site: Path_ | None = None
    current = data
    loc = error["loc"]
    for index, segment in enumerate(loc):
        if isinstance(current, dict) and isinstance(segment, str) and segment in current:
            current = current[segment]
        elif isinstance(current, list) and isinstance(segment, int) and segment < len(current):
            current = current[segment]
        elif index == len(loc) - 1 and error["type"] == "missing":
            break  # the missing key itself: report it on its parent mapping
        else:
            if union_site is None:
                union_site = tuple(path)
            continue
        path.append(segment)
    return _Located(error, tuple(path), union_site)


def _problem(
    path: Path_,
    errors: Sequence[ErrorDetails],
    document: YamlDocument,
    model: type[BaseModel],
    labels: Mapping[Path_, str],
) -> YamlProblem:
    label = next((labels[path[:n]] for n in range(len(path), 0, -1) if path[:n] in labels), None)
    messages = list(dict.fromkeys(_message(e, path, model) for e in errors))
    where = label or _dotted(path)
    text = " or ".join(messages)
    line = 0 if label else document.line_of(path)
    if not where or text.startswith(where + " "):
        return YamlProblem(line, text)  # the model's message names the key already
    last = str(path[-1]) if path else ""
    if last and text.startswith(last + " "):
        # "upstream must be …" from a validator becomes "gateway.upstream must be …".
        return YamlProblem(line, where + text[len(last) :])
    return YamlProblem(line, f"{where}: {text}")


def _message(error: ErrorDetails, path: Path_, model: type[BaseModel]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(path[-1]) if path else "?"
        parent = path[:-1]
        guess = difflib.get_close_matches(key, _allowed_keys(model, parent), n=1, cutoff=0.6)
        hint = f", did you mean {guess[0]!r}?" if guess else ""
        return f"unknown key {key!r}{hint}"
    if kind == "missing":
        return f"missing required key {error['loc'][-1]!r}"
    if kind in ("ip_v4_network", "ip_v6_network", "ip_any_network"):
        return _network_message(error["input"])
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        message = "expected a mapping (key: value)"
    elif kind == "list_type":
        message = "expected a list"
    else:
        message = error["msg"].removeprefix("Value error, ")
    shown = _shown(error["input"])
    if kind == "value_error" and isinstance(error["input"], str) and shown not in message:
        return f"{message} (got {shown})"
    if kind in _SELF_EXPLAINING:
        return message
    return f"{message} (got {shown})"


def _network_message(value: object) -> str:
    try:
        ipaddress.ip_network(str(value))
    except ValueError as exc:
        return f"{value!r} is not a CIDR network such as 10.0.0.0/8: {exc}"
    return f"{value!r} is not a CIDR network"  # pragma: no cover - pydantic accepted those


def _shown(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _dotted(path: Path_) -> str:
    out = ""
    for segment in path:
        out += f"[{segment}]" if isinstance(segment, int) else (f".{segment}" if out else segment)
    return out


def _allowed_keys(model: type[BaseModel], path: Path_) -> list[str]:
    """The field names of the model found at `path` (for "did you mean"), or none."""
    candidates: list[object] = [model]
    for segment in path:
        candidates = [step for c in candidates for step in _step(c, segment)]
    return [name for c in candidates for m in _models(c) for name in m.model_fields]


def _step(annotation: object, segment: str | int) -> list[object]:
    out: list[object] = []
    for member in _members(annotation):
        origin = typing.get_origin(member)
        args = typing.get_args(member)
        if isinstance(member, type) and issubclass(member, BaseModel):
            field = member.model_fields.get(str(segment))
            if field is not None:
                out.append(field.annotation)
        elif origin in (list, tuple, set, frozenset) and isinstance(segment, int) and args:
            out.append(args[0])
        elif origin is dict and len(args) == 2:
            out.append(args[1])
    return out


def _members(annotation: object) -> list[object]:
    """`annotation` with Annotated stripped and unions flattened."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _members(arg)]
    return [annotation]


def _models(annotation: object) -> list[type[BaseModel]]:
    return [m for m in _members(annotation) if isinstance(m, type) and issubclass(m, BaseModel)]
