"""The audit log as the console reads it: filtered, newest first, a page at a time.

A read-only I/O shell over ``audit.store.cg_audit_entries``. Filters: a half-open time window
``[since, until)`` on ``ts``, one action, one subject. Pages are keyset-paginated on ``seq``
(``before``: show entries with a smaller seq), so a page link stays right while the log grows
and no ``OFFSET`` scan walks the whole table.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy import func, inspect, select

from audit.store import EntryFilter, Record, cg_audit_entries, iter_records
from storage.store import Store

PAGE_SIZE = 50


# The console's filter is the export's filter: one SQL condition for both.
AuditQuery = EntryFilter


SHORT = 16  # a longer public value (a config hash) is cut in the table, whole in its title


@dataclass(frozen=True)
class Detail:
    """One public detail of an entry: the whole ``name=value`` and the shown, cut form."""

    full: str
    short: str


@dataclass(frozen=True)
class Row:
    """One entry as the table shows it (``data`` is sealed: only whether there is any;
    ``public`` details are non-personal and shown)."""

    seq: int
    ts: str
    actor: str
    action: str
    subject: str | None
    sealed: bool
    hash: str
    public: tuple[Detail, ...] = ()


def details(text: str | None) -> tuple[Detail, ...]:
    """The stored ``public`` column as table cells (a corrupt value is shown as it is)."""
    if text is None:
        return ()
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        return (Detail(text, text[:SHORT] + ("…" if len(text) > SHORT else "")),)
    cells = []
    for name, item in value.items():
        shown = json.dumps(item) if not isinstance(item, str) else item
        full = f"{name}={shown}"
        cut = shown[:12] + "…" if len(shown) > SHORT else shown
        cells.append(Detail(full, f"{name}={cut}"))
    return tuple(cells)


@dataclass(frozen=True)
class Page:
    """One page, newest first; ``next_before`` is the seq to continue from, or None."""

    rows: list[Row]
    next_before: int | None
    total: int


async def _has_table(store: Store) -> bool:
    async with store.engine.connect() as conn:
        return await conn.run_sync(lambda c: inspect(c).has_table(cg_audit_entries.name))


async def page(
    store: Store, chain: str, query: AuditQuery, before: int | None, size: int = PAGE_SIZE
) -> Page:
    """A page of entries matching `query` with seq < `before` (all when None)."""
    if not await _has_table(store):
        return Page([], None, 0)
    t = cg_audit_entries.c
    where = query.where(chain)
    async with store.engine.connect() as conn:
        total = await conn.scalar(select(func.count()).select_from(cg_audit_entries).where(where))
        stmt = select(t.seq, t.ts, t.actor, t.action, t.subject, t.data, t.hash, t.public)
        stmt = stmt.where(where)
        if before is not None:
            stmt = stmt.where(t.seq < before)
        result = await conn.execute(stmt.order_by(t.seq.desc()).limit(size + 1))
        rows = [
            Row(
                r.seq,
                r.ts,
                r.actor,
                r.action,
                r.subject,
                r.data is not None,
                r.hash,
                details(r.public),
            )
            for r in result
        ]
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows, rows[-1].seq if more else None, int(total or 0))


async def actions(store: Store, chain: str) -> list[str]:
    """Every action that occurs in the chain, sorted (the filter's choices)."""
    if not await _has_table(store):
        return []
    t = cg_audit_entries.c
    async with store.engine.connect() as conn:
        result = await conn.execute(select(t.action).where(t.chain == chain).distinct())
        return sorted(r.action for r in result)


async def records(store: Store, chain: str, query: AuditQuery) -> AsyncIterator[Record]:
    """Every matching entry record in seq order, exactly as ``audit export`` writes them."""
    async for record in iter_records(store, chain, query):
        yield record
