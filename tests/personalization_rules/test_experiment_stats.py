"""Experiment statistics: the z-test against known values, report lines, the table."""

from __future__ import annotations

import pytest

from personalization_rules.experiment_stats import (
    VariantCounts,
    format_report,
    report,
    two_proportion_p_value,
)


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "expected"),
    [
        # Reference values: the Pearson chi-square test of the 2x2 table without continuity
        # correction equals the pooled z-test (chi2 = z^2); computed with
        # scipy.stats.chi2_contingency(table, correction=False) and R's
        # prop.test(c(x1, x2), c(n1, n2), correct = FALSE). 100/1000 vs 130/1000: z = 2.1027.
        (100, 1000, 130, 1000, 0.035488),
        (130, 1000, 100, 1000, 0.035488),  # two-sided: symmetric
        (50, 500, 50, 500, 1.0),
        (20, 200, 45, 210, 0.0015404),
    ],
)
def test_known_p_values(x1: int, n1: int, x2: int, n2: int, expected: float) -> None:
    p = two_proportion_p_value(x1, n1, x2, n2)
    assert p == pytest.approx(expected, abs=5e-6)


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2"),
    [
        (0, 0, 1, 10),
        (1, 10, 0, 0),
        (0, 10, 0, 10),
        (10, 10, 5, 5),
        (11, 10, 1, 10),
        (-1, 10, 1, 10),
    ],
)
def test_undefined_p_values(x1: int, n1: int, x2: int, n2: int) -> None:
    assert two_proportion_p_value(x1, n1, x2, n2) is None


def test_report_uses_the_configured_control_and_lists_unexposed_variants() -> None:
    counts = [
        VariantCounts("welcome", "free-shipping", 1000, 130, 140, 140, 7000.0, ("EUR",)),
        VariantCounts("welcome", "control", 1000, 100, 100, 80, 4000.0, ("EUR",)),
        VariantCounts("other", "a", 10, 1, 1, 1, 10.0, ("EUR", "USD")),
    ]
    order = {"welcome": ["control", "free-shipping", "new-arm"]}
    lines = report(counts, order)
    welcome = [line for line in lines if line.experiment == "welcome"]
    assert [line.variant for line in welcome] == ["control", "free-shipping", "new-arm"]
    control, treated, unexposed = welcome
    assert control.control and control.p_value is None
    assert control.conversion_rate == pytest.approx(0.10)
    assert control.average_order_value == pytest.approx(50.0)
    assert treated.p_value == pytest.approx(0.035488, abs=5e-6)
    assert treated.average_order_value == pytest.approx(50.0) and treated.currency == "EUR"
    assert unexposed.exposures == 0 and unexposed.conversion_rate is None
    assert unexposed.p_value is None
    other = [line for line in lines if line.experiment == "other"]
    assert other[0].control and other[0].currency is None  # mixed currencies: no unit


def test_format_report() -> None:
    text = format_report(
        report(
            [
                VariantCounts("w", "control", 1000, 100, 100, 100, 5000.0, ("EUR",)),
                VariantCounts("w", "b", 1000, 130, 130, 0, 0.0),
            ],
            {"w": ["control", "b"]},
        )
    )
    lines = text.splitlines()
    assert lines[0] == "experiment w"
    assert "10.00%" in lines[2] and "50.00 EUR" in lines[2] and "control" in lines[2]
    assert "13.00%" in lines[3] and "0.0355" in lines[3]
    assert format_report([]) == "no experiment exposures recorded\n"
