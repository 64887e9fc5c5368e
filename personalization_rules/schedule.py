"""When a rule may run, judged on the visitor's local clock.

`start`/`end` are ISO dates (`2026-12-01`, whole days, both inclusive) or date-times
(`2026-12-01T09:00`: the visitor's local time; with an offset or `Z`: that instant, start
inclusive, end exclusive). `days` lists weekdays (`mon`..`sun`); `hours: [9, 17]` means
09:00 until 16:59, and `[22, 6]` wraps past midnight. A visitor whose time zone is unknown
is judged in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

Moment = date | datetime


def parse_moment(text: str) -> Moment:
    """An ISO 8601 date or date-time; raises ValueError with a readable message."""
    value = text.strip()
    try:
        if "T" in value or " " in value:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO date (2026-12-01) or date-time (2026-12-01T09:00)"
        ) from None


@dataclass(frozen=True)
class Schedule:
    """A compiled `schedule:`; `why_not(local)` is None inside it, else the reason."""

    start: Moment | None = None
    end: Moment | None = None
    days: frozenset[str] = frozenset()
    hours: tuple[int, int] | None = None

    def why_not(self, local: datetime) -> str | None:
        """None when `local` (aware, in the visitor's zone) is inside the schedule."""
        if self.start is not None and _before(local, self.start):
            return f"schedule starts {self.start.isoformat()}"
        if self.end is not None and not _before(local, self.end, inclusive_date=True):
            return f"schedule ended {self.end.isoformat()}"
        if self.days and WEEKDAYS[local.weekday()] not in self.days:
            day = WEEKDAYS[local.weekday()]
            return f"schedule days {','.join(d for d in WEEKDAYS if d in self.days)} (now {day})"
        if self.hours is not None:
            first, last = self.hours
            hour = local.hour
            inside = first <= hour < last if first < last else hour >= first or hour < last
            if not inside:
                return f"schedule hours {first}-{last} (now {hour:02d}:{local.minute:02d})"
        return None


def _before(local: datetime, moment: Moment, inclusive_date: bool = False) -> bool:
    """True when `local` is before `moment` (a date's whole day counts when inclusive)."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            return local.replace(tzinfo=None) < moment
        return local < moment
    today = local.date()
    return today <= moment if inclusive_date else today < moment
