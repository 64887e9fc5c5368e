"""Consent statistics for the console: opt-in rate per purpose, per jurisdiction, per day.

Pure core (``opt_in_rates``) over plain rows, and a thin query (``load_choices``) over
``consent.store.cg_consent_records``. "Jurisdiction" is the regime the choice was made under
(``gdpr``, ``us-optout``, ``default``...), the unit the policy is written in.

Counting rule: per day, each subject counts once with the LAST choice it made that day (a
visitor toggling five times is one person, not five). For a purpose, the day's rate is
granted / (granted + denied) over the subjects whose choice named that purpose either way;
a purpose nobody decided on that day has no point (a gap, not 0 %). A grant that the
visitor's GPC signal held back (not confirmed, 11 CCR §7025(c)(3)) counts as a refusal: it
never took effect.

Choices by kind (``choice_counts``): every explicit choice in the period, per regime, named as
the audit log names it (``consent.choice_kind``: given, refused, withdrawn, changed), derived
from the records themselves, so choices audited before ``refused`` existed count right too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from consent.choice_kind import KINDS, Kind, choice_kind, held_by_gpc
from consent.state import ConsentRecord
from consent.store import cg_consent_records, record_of
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
    kind: Kind = "changed"


@dataclass(frozen=True)
class KindCount:
    """How many explicit choices of each kind were made under one regime."""

    regime: str
    counts: tuple[tuple[Kind, int], ...]  # in `consent.choice_kind.KINDS` order, gpc left out


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


def choice_counts(choices: Iterable[Choice], first: date, last: date) -> list[KindCount]:
    """Per regime (sorted), the explicit choices made in [first, last] by kind (every choice
    counts, not one per subject: this is what people did, not who they are)."""
    counts: dict[str, dict[Kind, int]] = {}
    for choice in choices:
        if choice.kind == "gpc" or not first <= choice.ts.astimezone(UTC).date() <= last:
            continue
        per = counts.setdefault(choice.regime, {})
        per[choice.kind] = per.get(choice.kind, 0) + 1
    return [
        KindCount(regime, tuple((k, counts[regime].get(k, 0)) for k in KINDS if k != "gpc"))
        for regime in sorted(counts)
    ]


def choice_of(
    subject: str, previous: ConsentRecord | None, record: ConsentRecord, gpc_refused: frozenset[str]
) -> Choice:
    """A stored record as statistics see it: grants GPC held back count as refusals."""
    held = held_by_gpc(record, gpc_refused)
    return Choice(
        subject,
        _utc(record.ts),
        record.regime,
        record.granted - held,
        record.denied | held,
        choice_kind(previous, record, gpc_refused),
    )


def _utc(ts: datetime) -> datetime:
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


async def load_choices(
    store: Store, since: datetime, gpc_refused: frozenset[str] = frozenset()
) -> list[Choice]:
    """Every consent record made at or after `since` (`gpc_refused`:
    `policies.purposes.gpc_purposes`). Each subject's last record before `since` is read too,
    so that the first choice in the period is named against what preceded it."""
    t = cg_consent_records.c
    before = select(func.max(t.id)).where(t.ts < since).group_by(t.subject_id)
    async with store.engine.connect() as conn:
        rows = await conn.execute(
            select(cg_consent_records)
            .where((t.ts >= since) | t.id.in_(before))
            .order_by(t.subject_id, t.id)
        )
        previous: dict[str, ConsentRecord] = {}
        choices: list[Choice] = []
        for row in rows:
            record = record_of(row)
            subject: str = row.subject_id
            if record.ts >= since:
                choices.append(choice_of(subject, previous.get(subject), record, gpc_refused))
            previous[subject] = record
        return choices
