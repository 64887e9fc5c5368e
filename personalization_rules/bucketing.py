"""GrowthBook-compatible experiment hashing and bucketing (pure).

A visitor is placed in an experiment variant by hashing a stable id with a seed into [0, 1)
and finding the variant range that holds the hash, exactly as the GrowthBook SDKs do, so an
experiment configured here splits the same way as one run through GrowthBook:

- hash v1: ``fnv1a32(value + seed) % 1000 / 1000`` (three decimals);
- hash v2: ``fnv1a32(str(fnv1a32(seed + value))) % 10000 / 10000`` (four decimals; the
  second round removes v1's bias between similar seeds).

FNV-1a 32 (offset basis 0x811C9DC5, prime 0x01000193) runs over UTF-16 code units, as the
reference JavaScript SDK's ``charCodeAt`` does; for text inside the Basic Multilingual Plane
that equals hashing code points, as growthbook-python does.

Conformance: ``hash``, ``getBucketRange``, ``chooseVariation``, ``inNamespace`` cases of
growthbook-python ``tests/cases.json`` (tests/personalization_rules/test_bucketing.py).
"""

from __future__ import annotations

from collections.abc import Sequence

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193
_MASK32 = 0xFFFFFFFF

# GrowthBook SDK spec: weights that do not sum to 1 within this tolerance are replaced by an
# even split rather than rejected, so a config typo never skews traffic silently to one arm.
_WEIGHT_SUM_MIN = 0.99
_WEIGHT_SUM_MAX = 1.01

Range = tuple[float, float]


def fnv1a32(text: str) -> int:
    """FNV-1a 32-bit hash of ``text`` over its UTF-16 code units."""
    units: bytes | Sequence[int]
    if text.isascii():
        units = text.encode("ascii")
    else:
        raw = text.encode("utf-16-le", "surrogatepass")
        units = [raw[i] | raw[i + 1] << 8 for i in range(0, len(raw), 2)]
    h = _FNV_OFFSET
    for unit in units:
        h = ((h ^ unit) * _FNV_PRIME) & _MASK32
    return h


def bucket_hash(seed: str, value: str, version: int) -> float | None:
    """The hash of ``value`` under ``seed`` in [0, 1), or None for an unknown hash version."""
    if version == 2:
        return (fnv1a32(str(fnv1a32(seed + value))) % 10000) / 10000
    if version == 1:
        return (fnv1a32(value + seed) % 1000) / 1000
    return None


def in_range(n: float, bucket: Range) -> bool:
    """True when ``n`` lies in the half-open range ``[start, end)``."""
    return bucket[0] <= n < bucket[1]


def equal_weights(num_variations: int) -> list[float]:
    """An even split over ``num_variations`` arms (empty for fewer than one)."""
    if num_variations < 1:
        return []
    return [1 / num_variations] * num_variations


def bucket_ranges(
    num_variations: int, coverage: float = 1.0, weights: Sequence[float] | None = None
) -> list[Range]:
    """Each variant's hash range: arm i starts at the sum of the earlier weights.

    ``coverage`` (clamped to [0, 1]) shrinks every range from its start, so raising it later
    only adds visitors and never moves one from one arm to another. Weights of the wrong length
    or not summing to 1 fall back to an even split.
    """
    coverage = min(max(coverage, 0.0), 1.0)
    chosen: Sequence[float]
    if (
        weights is None
        or len(weights) != num_variations
        or not _WEIGHT_SUM_MIN <= sum(weights) <= _WEIGHT_SUM_MAX
    ):
        chosen = equal_weights(num_variations)
    else:
        chosen = weights
    ranges: list[Range] = []
    start = 0.0
    for weight in chosen:
        ranges.append((start, start + coverage * weight))
        start += weight
    return ranges


def choose_variation(n: float, ranges: Sequence[Range]) -> int:
    """Index of the first range holding ``n``, or -1 when ``n`` falls outside coverage."""
    for index, bucket in enumerate(ranges):
        if in_range(n, bucket):
            return index
    return -1


def in_namespace(user_id: str, namespace: tuple[str, float, float]) -> bool:
    """True when ``user_id`` falls in the namespace slice ``(name, start, end)``.

    Namespaces keep mutually exclusive experiments apart: each takes a disjoint slice of the
    same per-namespace hash (v1, seed ``"__" + name``).
    """
    name, start, end = namespace
    n = bucket_hash("__" + name, user_id, 1)
    return n is not None and start <= n < end
