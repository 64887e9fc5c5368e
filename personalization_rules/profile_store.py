"""Where personalization keeps what it learns: profiles, events, decisions, exposures.

The I/O shell around `personalization_rules.profile` (schema component "personalization").
Every row belongs to a subject of `cg_subjects` (ON DELETE CASCADE, and erasure deletes
explicitly as well). What is stored:

- `cg_profiles`: one row per subject, the `ProfileFacts` summary as JSON.
- `cg_events`: behaviour events (view, add_to_cart, purchase). Only consented events reach
  this module: callers record only under the purpose covering behaviour data (profile
  updates happen only under the purpose that covers them). Aggregates
  (`personalization_rules.aggregates`) and conversions are counted from these rows.
- `cg_decisions`: which rule used which purposes for the subject, first and last time and
  how often: one row per subject and rule, upserted (not a row per request). Only decisions
  that relied on a purpose are kept; purely contextual ones say nothing about the person.
- `cg_exposures`: the first time a subject saw a sticky experiment arm, one row per
  experiment and subject. Conversions are the subject's purchase events after it.
- `cg_impressions`: frequency-cap counters, one row per subject and capped rule holding the
  current period's key and count (`personalization_rules.frequency`); a new period resets it.

Writes are grouped (`apply`) so the page path can hand them to `EventQueue` and never wait.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from consent.store import cg_subjects
from personalization_rules.attributes import VisitorProfile
from personalization_rules.engine import SlotDecision
from personalization_rules.experiment_stats import VariantCounts
from personalization_rules.facts_cache import FactsCache
from personalization_rules.frequency import period_key
from personalization_rules.profile import ProfileFacts, ShopEvent, Thresholds, visitor_profile
from storage.schema import Migration, Retention, create_tables, personal, register_component
from storage.store import Store

metadata = MetaData()


def _subject_fk(*, primary_key: bool = False) -> Column[str]:
    # A Column object (not "cg_subjects.id") because cg_subjects lives in consent's MetaData.
    return Column(
        "subject_id",
        String(64),
        ForeignKey(cg_subjects.c.id, ondelete="CASCADE"),
        nullable=False,
        primary_key=primary_key,
    )


cg_profiles = Table(
    "cg_profiles",
    metadata,
    _subject_fk(primary_key=True),
    Column("facts", Text, nullable=False),  # ProfileFacts.to_json()
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
cg_events = Table(
    "cg_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _subject_fk(),
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("type", String(16), nullable=False),  # view | add_to_cart | purchase
    Column("sku", String(64), nullable=True),
    Column("category", String(64), nullable=True),
    Column("country", String(2), nullable=True),
    Column("order_value", Float, nullable=True),
    Column("order_id", String(80), nullable=True),  # keyed pseudonym, never the shop's id
    Column("currency", String(3), nullable=True),
    Index("ix_cg_events_subject", "subject_id", "ts"),
    Index("ix_cg_events_type_ts", "type", "ts"),
)
cg_decisions = Table(
    "cg_decisions",
    metadata,
    _subject_fk(primary_key=True),
    Column("rule_id", String(64), primary_key=True),
    Column("purposes", Text, nullable=False),  # JSON list of purpose ids relied on
    Column("first_ts", DateTime(timezone=True), nullable=False),
    Column("last_ts", DateTime(timezone=True), nullable=False),
    Column("count", Integer, nullable=False),
)
cg_exposures = Table(
    "cg_exposures",
    metadata,
    Column("experiment", String(64), primary_key=True),
    _subject_fk(primary_key=True),
    Column("variant", String(64), nullable=False),
    Column("first_ts", DateTime(timezone=True), nullable=False),
    Index("ix_cg_exposures_subject", "subject_id"),
)

# Its own MetaData: the first migration creates `metadata`'s tables as they were released.
counters_metadata = MetaData()
cg_impressions = Table(
    "cg_impressions",
    counters_metadata,
    _subject_fk(primary_key=True),
    Column("rule_id", String(64), primary_key=True),
    Column("period", String(16), nullable=False),  # frequency.period_key of the count
    Column("count", Integer, nullable=False),
)

PERSONALIZATION = register_component(
    "personalization",
    [
        Migration("profiles, events, decisions, exposures", create_tables(*metadata.sorted_tables)),
        Migration("frequency cap counters", create_tables(cg_impressions)),
    ],
    [
        personal(cg_profiles, "subject_id", Retention("profiles", "updated_at", "profiles")),
        personal(cg_events, "subject_id", Retention("events", "ts", "events")),
        personal(cg_decisions, "subject_id", Retention("decisions", "last_ts", "decisions")),
        # An exposure is the start of the events that follow it: it goes with them.
        personal(cg_exposures, "subject_id", Retention("events", "first_ts", "exposures")),
        # One row per subject and capped rule, reset each period: nothing accumulates.
        personal(cg_impressions, "subject_id"),
    ],
)


@dataclass(frozen=True)
class Observation:
    """What one request taught about one subject: at most a view, the decisions that relied
    on a purpose, and the sticky experiment arms shown."""

    subject_id: str
    ts: datetime
    view: ShopEvent | None = None
    seen: bool = False  # activity without a view event (home page): sessions, last seen
    country: str | None = None  # where `seen` activity came from
    decisions: tuple[tuple[str, frozenset[str]], ...] = ()  # (rule id, purposes)
    exposures: tuple[tuple[str, str], ...] = ()  # (experiment, variant)
    impressions: tuple[tuple[str, str], ...] = ()  # (capped rule id, period key)

    @classmethod
    def of(
        cls,
        subject_id: str,
        ts: datetime,
        decisions: Iterable[SlotDecision],
        view: ShopEvent | None = None,
        seen: bool = False,
        country: str | None = None,
    ) -> Observation:
        """From a request's slot winners: purpose-relying rules, sticky arms."""
        won = list(decisions)
        return cls(
            subject_id,
            ts,
            view,
            seen,
            country,
            tuple((d.rule_id, d.purposes) for d in won if d.purposes),
            tuple(
                (d.experiment, d.variant)
                for d in won
                if d.sticky and d.experiment is not None and d.variant is not None
            ),
        )

    @classmethod
    def shown(cls, subject_id: str, ts: datetime, decisions: Iterable[SlotDecision]) -> Observation:
        """Impressions of the capped rules whose content the page really showed."""
        return cls(
            subject_id,
            ts,
            impressions=tuple(
                (d.rule_id, period_key(d.capped, ts)) for d in decisions if d.capped is not None
            ),
        )


def _utc(ts: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _iso(ts: datetime) -> str:
    return _utc(ts).isoformat()


@dataclass
class _Write:
    """A write transaction and the facts it saved, per subject."""

    conn: AsyncConnection
    saved: dict[str, ProfileFacts] = field(default_factory=dict)


class ProfileStore:
    """Profiles, events, decisions and exposures of subjects (module docstring).

    One instance per store in a process: its `FactsCache` is exact only against the writes
    that go through it.
    """

    def __init__(
        self, store: Store, thresholds: Thresholds | None = None, cache: FactsCache | None = None
    ) -> None:
        self.store = store
        self.thresholds = thresholds or Thresholds()
        self.cache = cache or FactsCache()

    # -- reads ---------------------------------------------------------------------------------

    async def facts(self, subject_id: str) -> ProfileFacts | None:
        """The subject's stored facts, or None when nothing was recorded.

        Remembered in `self.cache` (`personalization_rules.facts_cache`): this store's own
        writes show at once; another node's or worker's within the cache's TTL. Only the page's
        personalization reads this, and only under a consent state that is always fresh (an
        erased subject has no lookup, a withdrawn purpose no profile read).
        """
        hit = self.cache.get(subject_id)
        if hit is not None:
            return hit.facts
        before = self.cache.epoch(subject_id)
        async with self.store.engine.connect() as conn:
            raw = await conn.scalar(
                select(cg_profiles.c.facts).where(cg_profiles.c.subject_id == subject_id)
            )
        facts = ProfileFacts.from_json(json.loads(raw)) if raw is not None else None
        self.cache.read(subject_id, facts, before)
        return facts

    @contextlib.asynccontextmanager
    async def _writing(self, subject_ids: Iterable[str]) -> AsyncIterator[_Write]:
        """`store.write()`; once it commits, the facts it saved are what the cache remembers
        for their subjects (`FactsCache.end_write`)."""
        started = self.cache.begin_write(subject_ids)
        saved: dict[str, ProfileFacts] = {}
        committed = False
        try:
            async with self.store.write() as conn:
                yield _Write(conn, saved)
            committed = True
        finally:
            self.cache.end_write(started, saved, committed)

    async def profile(self, subject_id: str, now: datetime) -> VisitorProfile:
        """The subject's `VisitorProfile` at `now` (`new` when nothing was recorded)."""
        facts = await self.facts(subject_id) or ProfileFacts()
        return visitor_profile(facts, _utc(now), self.thresholds)

    # -- writes --------------------------------------------------------------------------------

    async def record_view(
        self,
        subject_id: str,
        sku: str | None,
        category: str | None,
        country: str | None,
        now: datetime,
    ) -> None:
        """A page view (product: its SKU and category; category page: the category)."""
        view = ShopEvent("view", _utc(now), sku, category, country)
        await self.apply([Observation(subject_id, _utc(now), view=view)])

    async def record_event(self, subject_id: str, event: ShopEvent) -> bool:
        """One shop event; see `record_events`."""
        return await self.record_events(subject_id, [event]) > 0

    async def record_events(self, subject_id: str, events: Sequence[ShopEvent]) -> int:
        """Shop events of one subject in one transaction; how many were stored.

        A purchase whose `order_id` is already stored for the subject is skipped (the shop
        may retry a post). The country defaults to the one the profile last saw. Nothing is
        stored for an unknown (e.g. erased) subject.
        """
        if not events:
            return 0
        async with self._writing([subject_id]) as write:
            conn = write.conn
            if not await _existing(conn, [subject_id]):
                return 0
            orders = {e.order_id for e in events if e.type == "purchase" and e.order_id}
            if orders:
                seen = await conn.execute(
                    select(cg_events.c.order_id).where(
                        cg_events.c.subject_id == subject_id,
                        cg_events.c.type == "purchase",
                        cg_events.c.order_id.in_(orders),
                    )
                )
                known = {row.order_id for row in seen}
                events = [e for e in events if e.order_id not in known or e.type != "purchase"]
            if not events:
                return 0
            facts = (await _facts(conn, [subject_id])).get(subject_id, ProfileFacts())
            rows = []
            for event in events:
                event = _normalized(event, facts.country)
                facts = facts.apply(event, self.thresholds.session_gap)
                rows.append(_event_row(subject_id, event))
            await conn.execute(insert(cg_events), rows)
            await self._save_facts(write, {subject_id: facts}, max(e.ts for e in events))
        return len(rows)

    async def record_decisions(
        self, subject_id: str, decisions: Iterable[SlotDecision], now: datetime
    ) -> None:
        """Upsert one row per rule that relied on a purpose (first/last time, count)."""
        await self.apply([Observation.of(subject_id, _utc(now), decisions)])

    async def record_exposure(
        self, experiment: str, variant: str, subject_id: str, now: datetime
    ) -> None:
        """The subject's first exposure to `experiment` (later ones change nothing)."""
        obs = Observation(subject_id, _utc(now), exposures=((experiment, variant),))
        await self.apply([obs])

    async def set_customer(self, subject_id: str, pseudonym: str, now: datetime) -> bool:
        """Keep the keyed pseudonym of the shop's customer identity; False for an unknown
        subject."""
        async with self._writing([subject_id]) as write:
            if not await _existing(write.conn, [subject_id]):
                return False
            facts = (await _facts(write.conn, [subject_id])).get(subject_id, ProfileFacts())
            facts = facts.touched(_utc(now), self.thresholds.session_gap)
            facts = replace(facts, customer=pseudonym)
            await self._save_facts(write, {subject_id: facts}, _utc(now))
        return True

    async def apply(self, observations: Sequence[Observation]) -> None:
        """Write a batch of observations in one transaction. Observations of subjects that no
        longer exist (erased meanwhile) are dropped, never re-create data."""
        if not observations:
            return
        async with self._writing({o.subject_id for o in observations}) as write:
            conn = write.conn
            alive = await _existing(conn, sorted({o.subject_id for o in observations}))
            batch = [o for o in observations if o.subject_id in alive]
            if not batch:
                return
            active = [o for o in batch if o.view is not None or o.seen]
            if active:
                await self._apply_activity(write, active)
            await self._apply_decisions(conn, batch)
            await self._apply_exposures(conn, batch)
            await self._apply_impressions(conn, batch)

    async def _apply_activity(self, write: _Write, batch: Sequence[Observation]) -> None:
        subjects = sorted({o.subject_id for o in batch})
        facts = await _facts(write.conn, subjects)
        rows = []
        gap = self.thresholds.session_gap
        for obs in sorted(batch, key=lambda o: o.ts):
            current = facts.get(obs.subject_id, ProfileFacts())
            if obs.view is None:
                touched = current.touched(_utc(obs.ts), gap)
                if obs.country:
                    touched = replace(touched, country=obs.country)
                facts[obs.subject_id] = touched
                continue
            event = _normalized(obs.view, current.country)
            facts[obs.subject_id] = current.apply(event, gap)
            rows.append(_event_row(obs.subject_id, event))
        if rows:
            await write.conn.execute(insert(cg_events), rows)
        latest = max(_utc(o.ts) for o in batch)
        await self._save_facts(write, {s: facts[s] for s in subjects}, latest)

    async def _apply_decisions(self, conn: AsyncConnection, batch: Sequence[Observation]) -> None:
        # (subject, rule) -> [purposes, first, last, count], merged in memory then upserted.
        merged: dict[tuple[str, str], list[Any]] = {}
        for obs in batch:
            for rule_id, purposes in obs.decisions:
                entry = merged.setdefault((obs.subject_id, rule_id), [set(), obs.ts, obs.ts, 0])
                entry[0] |= purposes
                entry[1] = min(entry[1], obs.ts)
                entry[2] = max(entry[2], obs.ts)
                entry[3] += 1
        if not merged:
            return
        subjects = sorted({s for s, _ in merged})
        stored = await conn.execute(
            select(cg_decisions).where(cg_decisions.c.subject_id.in_(subjects))
        )
        existing = {(r.subject_id, r.rule_id): r for r in stored}
        for (subject_id, rule_id), (purposes, first, last, count) in sorted(merged.items()):
            old = existing.get((subject_id, rule_id))
            if old is None:
                await conn.execute(
                    insert(cg_decisions).values(
                        subject_id=subject_id,
                        rule_id=rule_id,
                        purposes=json.dumps(sorted(purposes)),
                        first_ts=first,
                        last_ts=last,
                        count=count,
                    )
                )
                continue
            # The union: every purpose this rule ever relied on for the subject stays listed.
            union = sorted(purposes | set(json.loads(old.purposes)))
            await conn.execute(
                update(cg_decisions)
                .where(cg_decisions.c.subject_id == subject_id, cg_decisions.c.rule_id == rule_id)
                .values(
                    purposes=json.dumps(union),
                    first_ts=min(_utc(old.first_ts), first),
                    last_ts=max(_utc(old.last_ts), last),
                    count=cg_decisions.c.count + count,
                )
            )

    async def _apply_exposures(self, conn: AsyncConnection, batch: Sequence[Observation]) -> None:
        first: dict[tuple[str, str], tuple[str, datetime]] = {}
        for obs in sorted(batch, key=lambda o: o.ts):
            for experiment, variant in obs.exposures:
                first.setdefault((experiment, obs.subject_id), (variant, obs.ts))
        if not first:
            return
        rows = [
            {"experiment": e, "subject_id": s, "variant": v, "first_ts": ts}
            for (e, s), (v, ts) in sorted(first.items())
        ]
        dialect_insert = pg_insert if self.store.dialect == "postgresql" else sqlite_insert
        # Unique per experiment and subject: the first exposure stands.
        statement = dialect_insert(cg_exposures).on_conflict_do_nothing(
            index_elements=[cg_exposures.c.experiment, cg_exposures.c.subject_id]
        )
        await conn.execute(statement, rows)

    async def _apply_impressions(self, conn: AsyncConnection, batch: Sequence[Observation]) -> None:
        counts: dict[tuple[str, str], tuple[str, int]] = {}
        for obs in sorted(batch, key=lambda o: o.ts):
            for rule_id, period in obs.impressions:
                old_period, n = counts.get((obs.subject_id, rule_id), (period, 0))
                counts[(obs.subject_id, rule_id)] = (period, n + 1 if old_period == period else 1)
        if not counts:
            return
        rows = [
            {"subject_id": s, "rule_id": r, "period": p, "count": n}
            for (s, r), (p, n) in sorted(counts.items())
        ]
        dialect_insert = pg_insert if self.store.dialect == "postgresql" else sqlite_insert
        statement = dialect_insert(cg_impressions)
        same = cg_impressions.c.period == statement.excluded.period
        # One atomic upsert per row, so gateway nodes sharing a store add up: same period
        # adds, a new period starts over.
        statement = statement.on_conflict_do_update(
            index_elements=[cg_impressions.c.subject_id, cg_impressions.c.rule_id],
            set_={
                "period": statement.excluded.period,
                "count": case(
                    (same, cg_impressions.c.count + statement.excluded.count),
                    else_=statement.excluded.count,
                ),
            },
        )
        await conn.execute(statement, rows)

    async def impressions(
        self, subject_id: str, caps: Mapping[str, str], now: datetime
    ) -> dict[str, int]:
        """Rule id -> how often the subject saw it in the current period of its cap
        (`caps`: rule id -> period); rules not seen in their current period are absent."""
        if not caps:
            return {}
        async with self.store.engine.connect() as conn:
            rows = await conn.execute(
                select(
                    cg_impressions.c.rule_id, cg_impressions.c.period, cg_impressions.c.count
                ).where(cg_impressions.c.subject_id == subject_id)
            )
            return {
                rule_id: count
                for rule_id, period, count in rows
                if rule_id in caps and period == period_key(caps[rule_id], now)
            }

    async def _save_facts(
        self, write: _Write, facts: Mapping[str, ProfileFacts], now: datetime
    ) -> None:
        dialect_insert = pg_insert if self.store.dialect == "postgresql" else sqlite_insert
        rows = [
            {"subject_id": s, "facts": json.dumps(f.to_json(), sort_keys=True), "updated_at": now}
            for s, f in sorted(facts.items())
        ]
        write.saved.update(facts)
        statement = dialect_insert(cg_profiles)
        statement = statement.on_conflict_do_update(
            index_elements=[cg_profiles.c.subject_id],
            set_={"facts": statement.excluded.facts, "updated_at": statement.excluded.updated_at},
        )
        await write.conn.execute(statement, rows)

    # -- erasure, withdrawal, access ------------------------------------------------------------

    async def delete_subject(self, subject_id: str) -> None:
        """Erase everything personalization holds about the subject (GDPR Art. 17).

        Explicit deletes: SQLite enforces ON DELETE CASCADE only with foreign_keys on, and an
        erasure must not depend on a connection setting.
        """
        async with self._writing([subject_id]) as write:
            for table in (cg_events, cg_decisions, cg_exposures, cg_impressions, cg_profiles):
                await write.conn.execute(delete(table).where(table.c.subject_id == subject_id))

    async def delete_behaviour(self, subject_id: str) -> None:
        """Drop the profile, events and exposures after the covering purpose is withdrawn
        (GDPR Art. 7(3)); the decision log stays as the record of what was done under it."""
        async with self._writing([subject_id]) as write:
            for table in (cg_events, cg_exposures, cg_impressions, cg_profiles):
                await write.conn.execute(delete(table).where(table.c.subject_id == subject_id))

    async def export_subject(self, subject_id: str) -> dict[str, Any]:
        """The `profile`, `decisions` and `events` parts of the data-subject bundle."""
        async with self.store.engine.connect() as conn:
            raw = await conn.scalar(
                select(cg_profiles.c.facts).where(cg_profiles.c.subject_id == subject_id)
            )

            async def rows(table: Table, *order: str) -> Sequence[Any]:
                where = table.c.subject_id == subject_id
                ordered = [table.c[name] for name in order]
                return (await conn.execute(select(table).where(where).order_by(*ordered))).all()

            decisions = await rows(cg_decisions, "rule_id")
            events = await rows(cg_events, "ts", "id")
            exposures = await rows(cg_exposures, "experiment")
            counters = await rows(cg_impressions, "rule_id")
        facts = ProfileFacts.from_json(json.loads(raw)) if raw is not None else None
        profile: dict[str, Any] | None = None
        if facts is not None:
            derived = visitor_profile(facts, datetime.now(UTC), self.thresholds)
            profile = {
                "visitor_type": derived.type,
                "engaged_categories": list(derived.engaged_categories),
                "engaged_skus": list(derived.engaged_skus),
                "facts": facts.to_json(),
                "experiments": {e.experiment: e.variant for e in exposures},
                # Frequency-cap counters: how often each capped rule was shown this period.
                "frequency": {
                    rule: {"period": period, "count": n} for _, rule, period, n in counters
                },
            }
        return {
            "profile": profile,
            "decisions": [
                {
                    "rule": d.rule_id,
                    "purposes": json.loads(d.purposes),
                    "first": _iso(d.first_ts),
                    "last": _iso(d.last_ts),
                    "count": d.count,
                }
                for d in decisions
            ],
            "events": [
                {
                    k: v
                    for k, v in {
                        "type": e.type,
                        "ts": _iso(e.ts),
                        "sku": e.sku,
                        "category": e.category,
                        "country": e.country,
                        "order_value": e.order_value,
                        "currency": e.currency,
                    }.items()
                    if v is not None
                }
                for e in events
            ],
        }

    # -- experiments ------------------------------------------------------------------------------

    async def experiment_counts(self) -> list[VariantCounts]:
        """Per experiment and variant: exposed subjects, converted subjects (a purchase at or
        after their first exposure), those orders and their values."""
        purchase = and_(
            cg_events.c.subject_id == cg_exposures.c.subject_id,
            cg_events.c.type == "purchase",
            cg_events.c.ts >= cg_exposures.c.first_ts,
        )
        async with self.store.engine.connect() as conn:
            exposed = (
                await conn.execute(
                    select(
                        cg_exposures.c.experiment, cg_exposures.c.variant, func.count()
                    ).group_by(cg_exposures.c.experiment, cg_exposures.c.variant)
                )
            ).all()
            # One row per order (a multi-SKU order is several events with one order id).
            orders = (
                await conn.execute(
                    select(
                        cg_exposures.c.experiment,
                        cg_exposures.c.variant,
                        cg_events.c.subject_id,
                        func.coalesce(cg_events.c.order_id, cast(cg_events.c.id, String)),
                        func.max(cg_events.c.order_value),
                        func.max(cg_events.c.currency),
                    )
                    .select_from(cg_exposures.join(cg_events, purchase))
                    .group_by(
                        cg_exposures.c.experiment,
                        cg_exposures.c.variant,
                        cg_events.c.subject_id,
                        func.coalesce(cg_events.c.order_id, cast(cg_events.c.id, String)),
                    )
                )
            ).all()
        acc: dict[tuple[str, str], dict[str, Any]] = {
            (e, v): {
                "n": n,
                "subjects": set(),
                "orders": 0,
                "valued": 0,
                "revenue": 0.0,
                "currencies": set(),
            }
            for e, v, n in exposed
        }
        for experiment, variant, subject_id, _order, value, currency in orders:
            entry = acc[(experiment, variant)]
            entry["subjects"].add(subject_id)
            entry["orders"] += 1
            if value is not None:
                entry["valued"] += 1
                entry["revenue"] += float(value)
            if currency:
                entry["currencies"].add(currency)
        return [
            VariantCounts(
                experiment=e,
                variant=v,
                exposures=a["n"],
                conversions=len(a["subjects"]),
                orders=a["orders"],
                valued_orders=a["valued"],
                revenue=a["revenue"],
                currencies=tuple(sorted(a["currencies"])),
            )
            for (e, v), a in sorted(acc.items())
        ]


def _normalized(event: ShopEvent, country: str | None) -> ShopEvent:
    return ShopEvent(
        type=event.type,
        ts=_utc(event.ts),
        sku=event.sku,
        category=event.category,
        country=event.country or country,
        order_value=event.order_value,
        order_id=event.order_id,
        currency=event.currency,
    )


def _event_row(subject_id: str, event: ShopEvent) -> dict[str, Any]:
    return {
        "subject_id": subject_id,
        "ts": event.ts,
        "type": event.type,
        "sku": event.sku,
        "category": event.category,
        "country": event.country,
        "order_value": event.order_value,
        "order_id": event.order_id,
        "currency": event.currency,
    }


async def _existing(conn: AsyncConnection, subject_ids: Sequence[str]) -> set[str]:
    """The subjects that still exist. On PostgreSQL their rows stay locked until commit
    (`FOR NO KEY UPDATE`): an erasure cannot slip in between this check and our inserts, and
    two writers of one subject's profile take turns, so neither overwrites what the other
    wrote (the profile row itself may not exist yet, and a lock on no row holds nothing).
    SQLite: the write lock is held since BEGIN IMMEDIATE."""
    query = select(cg_subjects.c.id).where(cg_subjects.c.id.in_(subject_ids))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(key_share=True)
    return {row.id for row in await conn.execute(query)}


async def _facts(conn: AsyncConnection, subject_ids: Sequence[str]) -> dict[str, ProfileFacts]:
    query = select(cg_profiles.c.subject_id, cg_profiles.c.facts).where(
        cg_profiles.c.subject_id.in_(subject_ids)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    rows = await conn.execute(query)
    return {r.subject_id: ProfileFacts.from_json(json.loads(r.facts)) for r in rows}
