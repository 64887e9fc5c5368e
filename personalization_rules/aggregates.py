"""k-anonymous event aggregates for recommendations: bestsellers, trending in a region,
bought together.

Counted only from `cg_events`, which holds only consented events (see
`personalization_rules.profile_store`), and an item is kept only when at least `k` distinct
subjects contributed to it (`HAVING COUNT(DISTINCT subject_id) >= k`, config
`personalization.k_anonymity`, default 10): no recommendation can reveal what one person did.

- bestsellers: purchase events per SKU, most first.
- trending_in_region: views and purchases per (country, SKU) over the last `trending_days`
  days, a purchase weighing `PURCHASE_WEIGHT` views.
- bought together: pairs of SKUs bought by the same subject; for each SKU its partners, the
  most common first. The k subjects must have bought both.

`AggregateCache.refresh` runs the GROUP BY queries (in the background, every
`aggregates_refresh_seconds`, never per request) and swaps in an immutable `Aggregates`
snapshot, which recommenders read synchronously.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy import Integer, and_, case, func, select
from sqlalchemy.orm import aliased

from personalization_rules.profile_store import cg_events
from storage.store import Store

PURCHASE_WEIGHT: Final = 3
MAX_PER_LIST: Final = 50  # more than any slot shows


@dataclass(frozen=True)
class Aggregates:
    """One refresh's k-anonymous lists (SKUs, best first)."""

    bestsellers: tuple[str, ...] = ()
    trending: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # country -> SKUs
    together: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # SKU -> partners
    computed_at: datetime | None = None


def rank(rows: Iterable[tuple[str, float, int]], limit: int = MAX_PER_LIST) -> tuple[str, ...]:
    """SKUs from (sku, score, subjects) rows: higher score first, then more subjects, then
    SKU (deterministic on every node)."""
    ordered = sorted(rows, key=lambda r: (-r[1], -r[2], r[0]))
    return tuple(sku for sku, _, _ in ordered[:limit])


def grouped(
    rows: Iterable[tuple[str, str, float, int]], limit: int = MAX_PER_LIST
) -> dict[str, tuple[str, ...]]:
    """(key, sku, score, subjects) rows ranked per key."""
    by_key: dict[str, list[tuple[str, float, int]]] = {}
    for key, sku, score, subjects in rows:
        by_key.setdefault(key, []).append((sku, score, subjects))
    return {key: rank(found, limit) for key, found in by_key.items()}


class AggregateCache:
    """The latest `Aggregates` snapshot and how to compute the next one."""

    def __init__(self, k: int = 10, trending_days: int = 7) -> None:
        if k < 1:
            raise ValueError("k must be at least 1")
        self.k = k
        self.trending_window = timedelta(days=trending_days)
        self.snapshot = Aggregates()
        self.refreshes = 0  # metric-ish: completed refreshes

    async def refresh(self, store: Store, now: datetime) -> Aggregates:
        """Recompute from the events table and swap the snapshot in; returns it."""
        now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
        k = self.k
        e = cg_events
        subjects = func.count(e.c.subject_id.distinct())
        purchases = func.sum(case((e.c.type == "purchase", 1), else_=0)).cast(Integer)
        views = func.sum(case((e.c.type == "view", 1), else_=0)).cast(Integer)
        best_q = (
            select(e.c.sku, func.count(), subjects)
            .where(e.c.type == "purchase", e.c.sku.is_not(None))
            .group_by(e.c.sku)
            .having(subjects >= k)
        )
        trend_q = (
            select(e.c.country, e.c.sku, views, purchases, subjects)
            .where(
                e.c.type.in_(("view", "purchase")),
                e.c.sku.is_not(None),
                e.c.country.is_not(None),
                e.c.ts >= (now - self.trending_window).astimezone(UTC),
            )
            .group_by(e.c.country, e.c.sku)
            .having(subjects >= k)
        )
        a, b = aliased(e), aliased(e)
        pair_subjects = func.count(a.c.subject_id.distinct())
        together_q = (
            select(a.c.sku, b.c.sku, pair_subjects)
            .select_from(
                a.join(
                    b,
                    and_(
                        a.c.subject_id == b.c.subject_id,
                        b.c.type == "purchase",
                        a.c.sku != b.c.sku,
                    ),
                )
            )
            .where(a.c.type == "purchase", a.c.sku.is_not(None), b.c.sku.is_not(None))
            .group_by(a.c.sku, b.c.sku)
            .having(pair_subjects >= k)
        )
        async with store.engine.connect() as conn:
            best = (await conn.execute(best_q)).all()
            trend = (await conn.execute(trend_q)).all()
            together = (await conn.execute(together_q)).all()
        snapshot = Aggregates(
            bestsellers=rank((sku, float(n), s) for sku, n, s in best),
            trending=grouped(
                (country, sku, float((v or 0) + PURCHASE_WEIGHT * (p or 0)), s)
                for country, sku, v, p, s in trend
            ),
            together=grouped((x, y, float(s), s) for x, y, s in together),
            computed_at=now,
        )
        self.snapshot = snapshot
        self.refreshes += 1
        return snapshot
