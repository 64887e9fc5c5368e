"""Tests for personalization_rules/bucketing.py.

Conformance: the ``hash``, ``getBucketRange``, ``chooseVariation``, ``inNamespace`` and
``getEqualWeights`` cases of growthbook-python ``tests/cases.json`` @c444b7d (MIT), vendored in
``tests/data/growthbook/cases.json`` (see its PROVENANCE).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from personalization_rules.bucketing import (
    bucket_hash,
    bucket_ranges,
    choose_variation,
    equal_weights,
    fnv1a32,
    in_namespace,
    in_range,
)

CASES_FILE = Path(__file__).resolve().parents[1] / "data" / "growthbook" / "cases.json"


def _cases(section: str) -> list[Any]:
    cases = json.loads(CASES_FILE.read_text(encoding="utf-8"))[section]
    return [pytest.param(c, id=str(c[0])) for c in cases]


def _rounded(ranges: Any) -> list[list[float]]:
    return [[round(x, 6) for x in r] for r in ranges]


@pytest.mark.parametrize("case", _cases("hash"))
def test_hash_conformance(case: list[Any]) -> None:
    seed, value, version, expected = case
    assert bucket_hash(seed, value, version) == expected


@pytest.mark.parametrize("case", _cases("getBucketRange"))
def test_bucket_ranges_conformance(case: list[Any]) -> None:
    _, (num_variations, coverage, weights), expected = case
    assert _rounded(bucket_ranges(num_variations, coverage, weights)) == _rounded(expected)


@pytest.mark.parametrize("case", _cases("chooseVariation"))
def test_choose_variation_conformance(case: list[Any]) -> None:
    _, n, ranges, expected = case
    assert choose_variation(n, [tuple(r) for r in ranges]) == expected


@pytest.mark.parametrize("case", _cases("inNamespace"))
def test_in_namespace_conformance(case: list[Any]) -> None:
    _, user_id, (name, start, end), expected = case
    assert in_namespace(user_id, (name, start, end)) is expected


@pytest.mark.parametrize("case", _cases("getEqualWeights"))
def test_equal_weights_conformance(case: list[Any]) -> None:
    num_variations, expected = case
    assert [round(w, 6) for w in equal_weights(num_variations)] == [round(w, 6) for w in expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Published FNV-1a 32 test vectors (Fowler/Noll/Vo, draft-eastlake-fnv).
        ("", 0x811C9DC5),
        ("a", 0xE40C292C),
        ("foobar", 0xBF9CF968),
    ],
)
def test_fnv1a32_known_vectors(text: str, expected: int) -> None:
    assert fnv1a32(text) == expected


def _fnv_over_units(units: list[int]) -> int:
    h = 0x811C9DC5
    for unit in units:
        h = ((h ^ unit) * 0x01000193) % 2**32
    return h


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("é", [0x00E9]),  # BMP: one code unit, same as the code point
        ("Linköping", [ord(c) for c in "Linköping"]),
        # Astral: the JavaScript SDK hashes the UTF-16 surrogate pair, not the code point.
        ("\N{GRINNING FACE}", [0xD83D, 0xDE00]),
    ],
)
def test_fnv1a32_hashes_utf16_code_units(text: str, units: list[int]) -> None:
    assert fnv1a32(text) == _fnv_over_units(units)


@pytest.mark.parametrize("version", [0, 3, -1, 99])
def test_unknown_hash_version_is_none(version: int) -> None:
    assert bucket_hash("seed", "value", version) is None


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((0, 1.0, None), []),
        ((1, 1.0, None), [(0.0, 1.0)]),
        ((3, 0.0, None), [(0.0, 0.0), (1 / 3, 1 / 3), (2 / 3, 2 / 3)]),
        ((2, 1.0, [0.995, 0.0]), [(0.0, 0.995), (0.995, 0.995)]),  # within tolerance: kept
        ((2, 1.0, [1.02, 0.0]), [(0.0, 0.5), (0.5, 1.0)]),  # beyond: even split
        ((2, 0.5, []), [(0.0, 0.25), (0.5, 0.75)]),
    ],
)
def test_bucket_ranges_edges(
    args: tuple[int, float, list[float] | None], expected: list[tuple[float, float]]
) -> None:
    assert _rounded(bucket_ranges(*args)) == _rounded(expected)


@pytest.mark.parametrize(
    ("n", "bucket", "expected"),
    [(0.0, (0.0, 0.5), True), (0.5, (0.0, 0.5), False), (0.5, (0.5, 0.5), False)],
)
def test_in_range_is_half_open(n: float, bucket: tuple[float, float], expected: bool) -> None:
    assert in_range(n, bucket) is expected


def test_namespace_slices_partition_users() -> None:
    # Every user lands in exactly one of two complementary slices.
    for user in map(str, range(200)):
        assert in_namespace(user, ("ns", 0.0, 0.5)) != in_namespace(user, ("ns", 0.5, 1.0))


@settings(deadline=None)
@given(seed=st.text(), value=st.text(), version=st.sampled_from([1, 2]))
def test_hash_is_in_unit_interval(seed: str, value: str, version: int) -> None:
    n = bucket_hash(seed, value, version)
    assert n is not None and 0.0 <= n < 1.0
    assert bucket_hash(seed, value, version) == n


@settings(deadline=None)
@given(
    n=st.floats(min_value=0.0, max_value=0.9999),
    weights=st.lists(st.integers(min_value=1, max_value=10), min_size=1, max_size=6),
    coverage=st.floats(min_value=0.0, max_value=1.0),
)
def test_full_coverage_places_everyone_and_coverage_only_shrinks(
    n: float, weights: list[int], coverage: float
) -> None:
    normalized = [w / sum(weights) for w in weights]
    full = bucket_ranges(len(weights), 1.0, normalized)
    chosen = choose_variation(n, full)
    assert chosen >= 0 or n >= full[-1][1]  # float rounding at the very top only
    partial = choose_variation(n, bucket_ranges(len(weights), coverage, normalized))
    # Lower coverage never moves a visitor to a different arm, it only leaves some out.
    assert partial in (-1, chosen)
