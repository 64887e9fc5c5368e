"""Schedules judged on the visitor's local clock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from personalization_rules.schedule import Schedule, parse_moment

PLUS_2 = timezone(timedelta(hours=2))


def at(text: str) -> datetime:
    """A local time in a UTC+2 zone."""
    return datetime.fromisoformat(text).replace(tzinfo=PLUS_2)


@pytest.mark.parametrize(
    ("schedule", "local", "inside"),
    [
        (Schedule(start=parse_moment("2026-12-01")), at("2026-11-30T23:59"), False),
        (Schedule(start=parse_moment("2026-12-01")), at("2026-12-01T00:00"), True),
        (Schedule(end=parse_moment("2026-12-24")), at("2026-12-24T23:59"), True),  # inclusive
        (Schedule(end=parse_moment("2026-12-24")), at("2026-12-25T00:00"), False),
        # A naive date-time is the visitor's local time...
        (Schedule(start=parse_moment("2026-12-01T09:00")), at("2026-12-01T08:59"), False),
        (Schedule(start=parse_moment("2026-12-01T09:00")), at("2026-12-01T09:00"), True),
        # ... one with an offset is an instant: 07:00Z is 09:00 at UTC+2.
        (Schedule(start=parse_moment("2026-12-01T07:00Z")), at("2026-12-01T08:59"), False),
        (Schedule(start=parse_moment("2026-12-01T07:00Z")), at("2026-12-01T09:00"), True),
        (Schedule(end=parse_moment("2026-12-01T18:00")), at("2026-12-01T18:00"), False),
        (Schedule(days=frozenset({"sat", "sun"})), at("2026-11-28T12:00"), True),  # Saturday
        (Schedule(days=frozenset({"sat", "sun"})), at("2026-11-27T12:00"), False),  # Friday
        (Schedule(hours=(9, 17)), at("2026-11-27T16:59"), True),
        (Schedule(hours=(9, 17)), at("2026-11-27T17:00"), False),
        (Schedule(hours=(22, 6)), at("2026-11-27T23:00"), True),  # wraps past midnight
        (Schedule(hours=(22, 6)), at("2026-11-27T05:59"), True),
        (Schedule(hours=(22, 6)), at("2026-11-27T12:00"), False),
        (Schedule(), at("2026-11-27T12:00"), True),
    ],
)
def test_why_not(schedule: Schedule, local: datetime, inside: bool) -> None:
    assert (schedule.why_not(local) is None) is inside


def test_reasons_are_readable() -> None:
    assert Schedule(hours=(9, 17)).why_not(at("2026-11-27T20:15")) == (
        "schedule hours 9-17 (now 20:15)"
    )
    assert Schedule(days=frozenset({"sun", "sat"})).why_not(at("2026-11-27T12:00")) == (
        "schedule days sat,sun (now fri)"
    )


@pytest.mark.parametrize("text", ["2026-13-01", "tomorrow", "2026-12-01T25:00", ""])
def test_parse_moment_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="is not an ISO date"):
        parse_moment(text)
