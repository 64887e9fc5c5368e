"""WMO weather codes fold into the condition groups rules use."""

from __future__ import annotations

import pytest

from personalization_rules.weather_codes import CONDITIONS, condition_for


@pytest.mark.parametrize(
    ("codes", "condition"),
    [
        ([0, 1], "clear"),
        ([2, 3], "cloudy"),
        ([45, 48], "fog"),
        ([51, 53, 55, 56, 57, 61, 63, 65, 66, 67, 80, 81, 82], "rain"),
        ([71, 73, 75, 77, 85, 86], "snow"),
        ([95, 96, 99], "storm"),
        ([4, 44, 50, 100, -1], "unknown"),
    ],
)
def test_groups(codes: list[int], condition: str) -> None:
    assert {condition_for(c) for c in codes} == {condition}


@pytest.mark.parametrize("value", [None, "63", True, 63.5, [63]])
def test_non_codes_are_unknown(value: object) -> None:
    assert condition_for(value) == "unknown"


def test_float_codes_from_json() -> None:
    assert condition_for(63.0) == "rain"


def test_every_code_0_to_99_lands_in_a_group() -> None:
    assert {condition_for(c) for c in range(100)} == set(CONDITIONS)
