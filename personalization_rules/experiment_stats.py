"""Experiment statistics (pure): conversion rates, average order value, and a two-proportion
z-test of each variant against the control.

A subject counts once: `exposures` is how many subjects saw the variant, `conversions` how
many of them bought at or after their first exposure. The p-value is two-sided, from the
pooled two-proportion z-test (the same figure as R's `prop.test(..., correct = FALSE)`):

    p̂ = (x₁ + x₂) / (n₁ + n₂)
    z = (x₂/n₂ − x₁/n₁) / √(p̂ (1 − p̂) (1/n₁ + 1/n₂))
    p = erfc(|z| / √2)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class VariantCounts:
    """Raw counts of one variant of one experiment (from the store)."""

    experiment: str
    variant: str
    exposures: int
    conversions: int = 0
    orders: int = 0
    valued_orders: int = 0  # orders that carried a value
    revenue: float = 0.0
    currencies: tuple[str, ...] = ()


@dataclass(frozen=True)
class VariantReport:
    """One line of `consentgate experiments report`."""

    experiment: str
    variant: str
    control: bool
    exposures: int
    conversions: int
    conversion_rate: float | None  # None without exposures
    average_order_value: float | None  # None without valued orders
    currency: str | None  # None when no or mixed currencies
    p_value: float | None  # None for the control or when the test is undefined


def two_proportion_p_value(x1: int, n1: int, x2: int, n2: int) -> float | None:
    """Two-sided p-value of the pooled two-proportion z-test of x1/n1 against x2/n2.

    None when it is undefined: an empty group, or both rates 0 % or both 100 % (no variance).
    """
    if n1 <= 0 or n2 <= 0 or not (0 <= x1 <= n1 and 0 <= x2 <= n2):
        return None
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:
        return None
    z = (x2 / n2 - x1 / n1) / math.sqrt(variance)
    return math.erfc(abs(z) / math.sqrt(2))


def report(
    counts: Iterable[VariantCounts], order: Mapping[str, Sequence[str]] | None = None
) -> list[VariantReport]:
    """Report lines, experiment by experiment; the control is the first variant in `order`
    (the rule file's order, variants without exposures included), else the first by name."""
    by_experiment: dict[str, dict[str, VariantCounts]] = {}
    for c in counts:
        by_experiment.setdefault(c.experiment, {})[c.variant] = c
    for experiment, variants in (order or {}).items():
        found = by_experiment.setdefault(experiment, {})
        for v in variants:
            found.setdefault(v, VariantCounts(experiment, v, 0))
    lines: list[VariantReport] = []
    for experiment in sorted(by_experiment):
        found = by_experiment[experiment]
        configured = [v for v in (order or {}).get(experiment, ()) if v in found]
        names = configured + sorted(v for v in found if v not in configured)
        control = found[names[0]]
        for name in names:
            c = found[name]
            is_control = name == names[0]
            lines.append(
                VariantReport(
                    experiment=experiment,
                    variant=name,
                    control=is_control,
                    exposures=c.exposures,
                    conversions=c.conversions,
                    conversion_rate=c.conversions / c.exposures if c.exposures else None,
                    average_order_value=(c.revenue / c.valued_orders if c.valued_orders else None),
                    currency=c.currencies[0] if len(c.currencies) == 1 else None,
                    p_value=None
                    if is_control
                    else two_proportion_p_value(
                        control.conversions, control.exposures, c.conversions, c.exposures
                    ),
                )
            )
    return lines


def format_report(lines: Sequence[VariantReport]) -> str:
    """A plain-text table per experiment."""
    if not lines:
        return "no experiment exposures recorded\n"
    out: list[str] = []
    header = (
        f"  {'variant':<20} {'exposures':>9} {'conversions':>11} {'conv. rate':>10} "
        f"{'avg order value':>16} {'p-value':>8}"
    )
    current = None
    for line in lines:
        if line.experiment != current:
            if current is not None:
                out.append("")
            current = line.experiment
            out += [f"experiment {line.experiment}", header]
        rate = "-" if line.conversion_rate is None else f"{line.conversion_rate:.2%}"
        aov = "-"
        if line.average_order_value is not None:
            aov = f"{line.average_order_value:.2f}" + (f" {line.currency}" if line.currency else "")
        if line.control:
            p = "control"
        else:
            p = "-" if line.p_value is None else f"{line.p_value:.4f}"
        out.append(
            f"  {line.variant:<20} {line.exposures:>9} {line.conversions:>11} {rate:>10} "
            f"{aov:>16} {p:>8}"
        )
    return "\n".join(out) + "\n"
