"""Consent statistics for the console: opt-in rate per purpose, per jurisdiction, per day.

Pure core (``opt_in_rates``) over plain rows, and a thin query (``load_choices``) over
``consent.store.cg_consent_records``. "Jurisdiction" is the regime the choice was made under
(``gdpr``, ``us-optout``, ``default``...), the unit the policy is written in.

Counting rule: per day, each subject counts once with the LAST choice it made that day (a
visitor toggling five times is one person, not five). For a purpose, the day's rate is
granted / (granted + denied) over the subjects whose choice named that purpose either way;
a purpose nobody decided on that day has no point (a gap, not 0 %).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from consent.store import cg_consent_records
from storage.store import Store

MAX_DAYS = 366


@dataclass(frozen=True)
class Choice:
    """One stored consent record, reduced to what statistics need (no identifiers leave)."""

    subject: str
    ts: datetime
    regime: str
    granted: frozenset[str]
    denied: frozenset[str]


@dataclass(frozen=True)
class DayRate:
    """One point: on `day`, `granted` of `decided` subjects opted in."""

    day: date
    granted: int
    decided: int

    @property
    def rate(self) -> float:
        """Opt-in share in 0..1."""
        return self.granted / self.decided


@dataclass(frozen=True)
class Series:
    """One purpose's points under one regime, by day (days without decisions are absent)."""

    regime: str
    purpose: str
    points: tuple[DayRate, ...]


def day_range(until: date, days: int) -> list[date]:
    """The `days` days ending with `until`, oldest first."""
    return [until - timedelta(days=i) for i in range(days - 1, -1, -1)]


def opt_in_rates(choices: Iterable[Choice], first: date, last: date) -> list[Series]:
    """Per (regime, purpose), the daily opt-in rates for days in [first, last] (UTC days),
    sorted by regime then purpose (see the module docstring for the counting rule)."""
    latest: dict[tuple[date, str, str], Choice] = {}
    for choice in choices:
        day = choice.ts.astimezone(UTC).date()
        if not first <= day <= last:
            continue
        key = (day, choice.regime, choice.subject)
        kept = latest.get(key)
        if kept is None or choice.ts >= kept.ts:
            latest[key] = choice
    counts: dict[tuple[str, str], dict[date, list[int]]] = {}
    for (day, regime, _), choice in latest.items():
        for purpose in choice.granted | choice.denied:
            cell = counts.setdefault((regime, purpose), {}).setdefault(day, [0, 0])
            cell[0] += purpose in choice.granted
            cell[1] += 1
    return [
        Series(
            regime,
            purpose,
            tuple(DayRate(day, g, n) for day, (g, n) in sorted(counts[(regime, purpose)].items())),
        )
        for regime, purpose in sorted(counts)
    ]


def _utc(ts: datetime) -> datetime:
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


async def load_choices(store: Store, since: datetime) -> list[Choice]:
    """Every consent record made at or after `since`."""
    t = cg_consent_records.c
    async with store.engine.connect() as conn:
        rows = await conn.execute(
            select(t.subject_id, t.ts, t.regime, t.granted, t.denied).where(t.ts >= since)
        )
        return [
            Choice(
                row.subject_id,
                _utc(row.ts),
                row.regime,
                frozenset(json.loads(row.granted)),
                frozenset(json.loads(row.denied)),
            )
            for row in rows
        ]
