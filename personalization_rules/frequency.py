"""Frequency caps: which counting period a moment falls in (pure).

A rule's `frequency: {max: N, per: day|week|month|ever}` shows it at most N times to one
subject per period. Counters are kept per subject, rule and period key (one row, reset when the
period changes: `profile_store.cg_impressions`), never a row per request. Periods are UTC
calendar periods: a day runs 00:00-24:00 UTC, a week is an ISO 8601 week (Monday first).
Caps exist only where state may be kept (a subject and the purpose covering behaviour
data): without consent there is no counter, hence no cap.
"""

from __future__ import annotations

from datetime import UTC, datetime


def period_key(per: str, now: datetime) -> str:
    """`2026-11-23` (day), `2026-W48` (week), `2026-11` (month) or `ever`."""
    moment = now.astimezone(UTC)
    if per == "day":
        return moment.strftime("%Y-%m-%d")
    if per == "week":
        year, week, _ = moment.isocalendar()
        return f"{year}-W{week:02d}"
    if per == "month":
        return moment.strftime("%Y-%m")
    if per == "ever":
        return "ever"
    raise ValueError(f"unknown frequency period {per!r}")
