"""The in-process cache of consent lookups, correct across processes and nodes.

A page view needs the visitor's subject and latest consent record: two queries. The cache
answers both from memory while the store's change counter (`cg_consent_epoch`, bumped by
triggers in the same transaction as any change to keyring, subjects, visitor links or
records) stays where it was when the entry was read. Reading the counter is one indexed row;
on SQLite it goes through a private read-only connection (no pool, no thread hop: a few
microseconds in WAL mode, where readers never wait for writers).

Why it is correct: an entry is used only under the counter value read *before* its rows were
read. A change committed after that moves the counter, so the next request misses; a change
committed in between leaves newer rows under an older value, which also just misses. Every
writer is covered because the triggers live in the database: this node, another gateway node,
the CLI, retention, erasure, or an operator's plain SQL.

Failure policy: if the counter cannot be read, the lookup goes to the store uncached (and
fails there, closed, if the store is down).
"""

from __future__ import annotations

import logging
import sqlite3
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

if TYPE_CHECKING:
    from consent.state import ConsentRecord
    from consent.store import ConsentStore, Subject
    from storage.store import Store

log = logging.getLogger(__name__)

#: Visitors a node remembers (a few hundred bytes each).
DEFAULT_SIZE = 65_536

Lookup = tuple["Subject | None", "ConsentRecord | None"]


class LookupCache:
    """`lookup(visitor_id)` = (subject, latest record), from memory while nothing changed."""

    def __init__(self, consent: ConsentStore, size: int = DEFAULT_SIZE) -> None:
        self._consent = consent
        self._size = size
        self._entries: OrderedDict[str, tuple[int, Lookup]] = OrderedDict()
        self._read_epoch = epoch_reader(consent.store)
        self.hits = 0
        self.misses = 0

    async def lookup(self, visitor_id: str) -> Lookup:
        try:
            epoch = await self._read_epoch()
        except Exception as exc:
            log.warning("consent change counter unreadable, lookup uncached: %s", exc)
            return await self._fetch(visitor_id)
        entry = self._entries.get(visitor_id)
        if entry is not None and entry[0] == epoch:
            self._entries.move_to_end(visitor_id)
            self.hits += 1
            return entry[1]
        self.misses += 1
        found = await self._fetch(visitor_id)
        self._entries[visitor_id] = (epoch, found)
        self._entries.move_to_end(visitor_id)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return found

    async def _fetch(self, visitor_id: str) -> Lookup:
        subject = await self._consent.find_subject(visitor_id)
        latest = await self._consent.latest(subject.id) if subject is not None else None
        return subject, latest


def epoch_reader(store: Store) -> Callable[[], Awaitable[int]]:
    """A function returning the store's current consent change counter."""
    from consent.store import cg_consent_epoch

    if store.dialect == "sqlite":
        return _SqliteEpoch(Path(store.engine.url.database or ""))

    async def read() -> int:
        async with store.engine.connect() as conn:
            value = await conn.scalar(
                select(cg_consent_epoch.c.n).where(cg_consent_epoch.c.id == 1)
            )
        if value is None:
            raise LookupError("cg_consent_epoch has no row")
        return int(value)

    return read


class _SqliteEpoch:
    """Reads the counter on a private read-only connection, synchronously (a page-cache read
    of one row; `busy_timeout` 0, so it never blocks the event loop: busy is an error)."""

    def __init__(self, path: Path) -> None:
        self._uri = path.resolve().as_uri() + "?mode=ro"
        self._conn: sqlite3.Connection | None = None

    async def __call__(self) -> int:
        try:
            if self._conn is None:
                self._conn = sqlite3.connect(
                    self._uri, uri=True, isolation_level=None, check_same_thread=False
                )
                self._conn.execute("PRAGMA busy_timeout = 0")
            row = self._conn.execute("SELECT n FROM cg_consent_epoch WHERE id = 1").fetchone()
        except sqlite3.Error:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()
            raise
        if row is None:
            raise LookupError("cg_consent_epoch has no row")
        return int(row[0])
