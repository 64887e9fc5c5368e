"""Opt-in rates per purpose, regime and day (gateway/console/consent_stats.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from gateway.console.consent_stats import Choice, DayRate, day_range, opt_in_rates

D1 = date(2026, 11, 20)


def choice(
    subject: str, hour: int, regime: str, granted: set[str], denied: set[str], day: date = D1
) -> Choice:
    ts = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
    return Choice(subject, ts, regime, frozenset(granted), frozenset(denied))


def test_rates_per_regime_purpose_and_day() -> None:
    choices = [
        choice("s1", 9, "gdpr", {"analytics"}, {"marketing"}),
        choice("s2", 10, "gdpr", set(), {"analytics", "marketing"}),
        choice("s3", 11, "us-optout", {"analytics", "marketing"}, set()),
        choice("s1", 9, "gdpr", {"analytics", "marketing"}, set(), D1 + timedelta(days=1)),
    ]
    series = {(s.regime, s.purpose): s.points for s in opt_in_rates(choices, D1, D1 + timedelta(1))}
    assert series[("gdpr", "analytics")] == (
        DayRate(D1, 1, 2),
        DayRate(D1 + timedelta(days=1), 1, 1),
    )
    assert series[("gdpr", "marketing")][0] == DayRate(D1, 0, 2)
    assert series[("us-optout", "marketing")] == (DayRate(D1, 1, 1),)
    assert list(series) == sorted(series)


def test_a_subject_counts_once_a_day_with_its_last_choice() -> None:
    choices = [
        choice("s1", 9, "gdpr", {"analytics"}, set()),
        choice("s1", 17, "gdpr", set(), {"analytics"}),  # withdrew later that day
        choice("s1", 12, "gdpr", {"analytics"}, set()),
    ]
    (series,) = opt_in_rates(choices, D1, D1)
    assert series.points == (DayRate(D1, 0, 1),)
    assert series.points[0].rate == 0.0


def test_days_outside_the_window_and_undecided_purposes_are_absent() -> None:
    choices = [
        choice("s1", 9, "gdpr", {"analytics"}, set(), D1 - timedelta(days=1)),
        choice("s2", 9, "gdpr", {"analytics"}, set()),
    ]
    (series,) = opt_in_rates(choices, D1, D1)
    assert series.purpose == "analytics" and series.points == (DayRate(D1, 1, 1),)
    assert opt_in_rates([], D1, D1) == []


def test_days_are_utc() -> None:
    # 23:30 UTC is already the next day at +05:00; the day counted is the UTC one.
    late = datetime(2026, 11, 20, 23, 30, tzinfo=UTC).astimezone(timezone(timedelta(hours=5)))
    (series,) = opt_in_rates([Choice("s", late, "gdpr", frozenset({"a"}), frozenset())], D1, D1)
    assert series.points[0].day == D1


def test_day_range() -> None:
    assert day_range(D1, 3) == [D1 - timedelta(days=2), D1 - timedelta(days=1), D1]


def test_choices_are_counted_by_kind_per_regime() -> None:
    from dataclasses import replace

    from gateway.console.consent_stats import KindCount, choice_counts

    choices = [
        replace(choice("s1", 9, "gdpr", set(), {"analytics"}), kind="refused"),
        replace(choice("s1", 10, "gdpr", {"analytics"}, set()), kind="given"),
        replace(choice("s1", 11, "gdpr", set(), {"analytics"}), kind="withdrawn"),
        replace(
            choice("s2", 11, "us-optout", set(), {"marketing"}, D1 - timedelta(1)), kind="withdrawn"
        ),
        replace(choice("s3", 12, "us-optout", set(), {"marketing"}), kind="gpc"),
    ]
    assert choice_counts(choices, D1, D1) == [
        KindCount("gdpr", (("given", 1), ("refused", 1), ("withdrawn", 1), ("changed", 0))),
    ]  # us-optout: one choice out of the period, one a GPC signal (no explicit choice)
