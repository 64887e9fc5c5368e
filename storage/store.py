"""The store: one async SQLAlchemy engine on `storage.url`, its schema migrated at open.

SQLite (`sqlite+aiosqlite:////abs/path.db`, the embedded default) gets its pragmas on every new
connection; PostgreSQL (`postgresql+asyncpg://...`) lets several gateway nodes share one store.
Tables are SQLAlchemy Core; schema components and migrations live in `storage.schema`.

Transactions: reads use `store.engine.begin()` / `connect()`; anything that writes should use
`store.write()`, which on SQLite begins with `BEGIN IMMEDIATE` so a read-then-write
transaction waits for the write lock up front instead of failing with "database is locked".
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import URL, event, make_url, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from storage import schema
from storage.schema import (
    SQLITE_BEGIN,
    Component,
    Migration,
    SchemaError,
    cg_meta,
    cg_schema,
    create_tables,
    execute,
    register_component,
    registered_components,
)

__all__ = [
    "Component",
    "Migration",
    "SchemaError",
    "Store",
    "StoreUnavailable",
    "create_tables",
    "execute",
    "open_store",
    "parse_store_url",
    "register_component",
]

Dialect = Literal["sqlite", "postgresql"]
DRIVERS: dict[str, Dialect] = {"sqlite+aiosqlite": "sqlite", "postgresql+asyncpg": "postgresql"}

BUSY_TIMEOUT_MS = 5000
PING_TIMEOUT_S = 2.0
# Readiness calls the store unwritable below this much free space where the SQLite file lives:
# a commit appends WAL frames, and a full disk fails it with SQLITE_FULL.
MIN_FREE_BYTES = 1024 * 1024
# Errors that mean the store itself failed a write (locked, disk full, I/O error, connection
# lost), not that the statement was wrong.
STORE_FAULTS = (OperationalError, InterfaceError, OSError)

# Run on every new SQLite connection (these pragmas are per connection, not stored in the file).
# WAL is not among them: it persists in the file, and `_sqlite_use_wal` sets it once per open.
SQLITE_PRAGMAS = (
    # Wait for a competing writer (another worker process) instead of failing at once.
    f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
    # Durability trade-off (sqlite.org/pragma.html#pragma_synchronous): in WAL mode NORMAL skips
    # the fsync per commit, so a power loss or OS crash may roll back the last transactions;
    # a process crash (even SIGKILL) loses nothing, because a commit has reached the OS before
    # it returns. Consent records must survive SIGKILL of the gateway - WAL+NORMAL gives that;
    # power-loss durability would need FULL at the price of one fsync per commit.
    "PRAGMA synchronous = NORMAL",
    # SQLite does not enforce FOREIGN KEY constraints unless asked, per connection.
    "PRAGMA foreign_keys = ON",
    # GDPR Art. 17 erasure: overwrite deleted content with zeros instead of leaving it in free
    # pages (sqlite.org/pragma.html#pragma_secure_delete). WAL frames go at the next checkpoint.
    "PRAGMA secure_delete = ON",
)


class StoreUnavailable(RuntimeError):
    """The store could not be reached or opened (server down, unwritable path)."""


def parse_store_url(url: str) -> URL:
    """Validate a storage URL; a `ValueError` names what is wrong.

    Accepted: `sqlite+aiosqlite:////absolute/path.db` and `postgresql+asyncpg://...`.
    Relative SQLite paths are refused here because the config loader resolves them against the
    config file's directory; a path relative to the working directory would silently open a
    different, empty store.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ValueError(f"storage.url {url!r} is not a database URL: {exc}") from None
    if parsed.drivername not in DRIVERS:
        raise ValueError(
            f"storage.url driver {parsed.drivername!r} is not supported; "
            "use sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB"
        )
    if DRIVERS[parsed.drivername] == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or parsed.query.get("mode") == "memory":
            # Each pooled connection would see its own empty in-memory database.
            raise ValueError("storage.url: in-memory SQLite is not supported; give a file path")
        if not Path(database).is_absolute():
            raise ValueError(
                f"storage.url: SQLite path {database!r} must be absolute "
                "(sqlite+aiosqlite:////abs/path.db)"
            )
    return parsed


@dataclass
class Store:
    """An open store: the engine plus the dialect name the code branches on."""

    engine: AsyncEngine
    dialect: Dialect
    # Why the last write failed (e.g. "database is locked"), until a write commits again.
    write_failure: str | None = field(default=None, compare=False)

    async def ping(self, timeout: float = PING_TIMEOUT_S) -> bool:
        """True when a round trip to the store succeeds within `timeout`; never raises."""
        if self.dialect == "sqlite" and not _sqlite_dir(self.engine.url).is_dir():
            # Don't let aiosqlite fail a connect: its worker thread then reports to the event
            # loop after the fact, which raises in that thread if the loop has closed meanwhile.
            return False
        try:
            async with asyncio.timeout(timeout):
                async with self.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        except Exception:  # readiness reports any failure as "not ready"
            return False
        return True

    async def writable(self, timeout: float = PING_TIMEOUT_S) -> bool:
        """True when a write would commit now, as far as can be told without one; never raises.

        SQLite: enough free disk, and the write lock taken and released within `timeout` on a
        connection of its own (another process holding `BEGIN EXCLUSIVE` fails it). After a
        failed write a real one (a `cg_meta` heartbeat) must commit, so readiness recovers by
        itself once the fault clears, with no visitor's write needed to find out.
        """
        try:
            if self.dialect == "sqlite":
                path = Path(self.engine.url.database or "")
                if _free_bytes(path.parent) < MIN_FREE_BYTES:
                    self.write_failure = "no space left on the store's disk"
                    return False
                heartbeat = self.write_failure is not None
                await asyncio.to_thread(_sqlite_write_probe, path, timeout, heartbeat)
            elif self.write_failure is not None:
                async with asyncio.timeout(timeout):
                    await self.set_meta("write_probe", str(os.getpid()))
        except (*STORE_FAULTS, sqlite3.Error) as exc:
            self.write_failure = _fault_reason(exc)
            return False
        self.write_failure = None
        return True

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that writes: committed on exit, rolled back on error.

        On SQLite it starts with `BEGIN IMMEDIATE` (the write lock waits up to busy_timeout).
        """
        try:
            async with self.engine.connect() as conn:
                await conn.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
                async with conn.begin():
                    yield conn
        except STORE_FAULTS as exc:
            self.write_failure = _fault_reason(exc)  # readiness reports it (`writable`)
            raise
        self.write_failure = None

    async def versions(self) -> dict[str, int]:
        """The schema version stored for each component."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(cg_schema.c.component, cg_schema.c.version))
            return {name: version for name, version in rows}

    async def get_meta(self, key: str) -> str | None:
        """The `cg_meta` value under `key`, or None."""
        async with self.engine.connect() as conn:
            value: str | None = await conn.scalar(
                select(cg_meta.c.value).where(cg_meta.c.key == key)
            )
            return value

    async def set_meta(self, key: str, value: str) -> None:
        """Insert or replace the `cg_meta` value under `key`."""
        insert = pg_insert if self.dialect == "postgresql" else sqlite_insert
        statement = insert(cg_meta).values(key=key, value=value)
        statement = statement.on_conflict_do_update(
            index_elements=[cg_meta.c.key], set_={"value": statement.excluded.value}
        )
        async with self.write() as conn:
            await conn.execute(statement)

    async def checkpoint(self) -> None:
        """SQLite: copy the WAL into the database and truncate it, so erased rows' old page
        images leave the -wal file too. PostgreSQL: nothing (VACUUM is the erasure code's job).
        """
        if self.dialect == "sqlite":
            async with self.engine.connect() as conn:
                await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))


async def open_store(
    url: str, *, migrate: bool = True, components: Sequence[Component] | None = None
) -> Store:
    """Open the store at `url` and, unless `migrate=False`, bring its schema up to date.

    `components` defaults to every registered one (`storage.schema.register_component`).
    Raises `ValueError` for a bad URL, `StoreUnavailable` when the store cannot be reached,
    `SchemaError` when the stored schema is newer than this code.
    """
    parsed = parse_store_url(url)
    dialect = DRIVERS[parsed.drivername]
    if dialect == "sqlite" and not _sqlite_dir(parsed).is_dir():
        raise StoreUnavailable(f"cannot open store {parsed}: no directory {_sqlite_dir(parsed)}")
    if dialect == "sqlite":
        await asyncio.to_thread(_sqlite_use_wal, Path(parsed.database or ""))
    engine = _sqlite_engine(parsed) if dialect == "sqlite" else _postgres_engine(parsed)
    store = Store(engine, dialect)
    if migrate:
        try:
            await _migrate(store, components)
        except BaseException:
            await store.close()
            raise
    return store


async def _migrate(store: Store, components: Sequence[Component] | None) -> None:
    chosen = registered_components() if components is None else components
    try:
        await schema.migrate(store.engine, chosen)
    except (OSError, DBAPIError) as exc:
        shown = store.engine.url.render_as_string(hide_password=True)
        reason = getattr(exc, "orig", None) or exc
        raise StoreUnavailable(f"cannot open store {shown}: {reason}") from exc


def _fault_reason(exc: BaseException) -> str:
    reason = getattr(exc, "orig", None) or exc  # the driver's own message, without the SQL
    return str(reason) or type(reason).__name__


def _free_bytes(directory: Path) -> int:
    stat = os.statvfs(directory)
    return stat.f_bavail * stat.f_frsize


def _sqlite_write_probe(path: Path, timeout: float, heartbeat: bool) -> None:
    # A connection outside the pool: its busy timeout is the probe's, and a probe that waits
    # on a lock never holds up a pooled connection a request needs.
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        if heartbeat:
            conn.execute(
                "INSERT INTO cg_meta (key, value) VALUES ('write_probe', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(os.getpid()),),
            )
            conn.execute("COMMIT")
        else:
            conn.execute("ROLLBACK")
    finally:
        conn.close()


def _sqlite_use_wal(path: Path) -> None:
    """Put the file in WAL mode (readers never block the writer and vice versa), waiting out a
    competing process for up to the busy timeout.

    The switch needs an exclusive lock that SQLite takes without calling the busy handler
    (pager.c: `pagerExclusiveLock` from `sqlite3PagerOpenWal`), so two processes opening a new
    file at once - the workers of `run --workers N` on a first start - got "database is locked"
    from the pragma on one of them. Hence the loop here, once per open, instead of the pragma on
    every pooled connection (and in the event loop's thread). Errors other than a lock (a file
    that is not a database) are left for the first real use to report.
    """
    _create_private_file(path)
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.002
    while True:
        try:
            conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode = WAL").fetchall()
                return
            finally:
                conn.close()
        except sqlite3.OperationalError as exc:
            if not _sqlite_busy(exc):
                return
            if time.monotonic() >= deadline:
                raise StoreUnavailable(f"cannot open store {path}: {exc}") from exc
        except sqlite3.Error:
            return
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def _sqlite_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)


def _sqlite_dir(url: URL) -> Path:
    return Path(url.database or "").parent


def _sqlite_engine(url: URL) -> AsyncEngine:
    _create_private_file(Path(url.database or ""))
    engine = create_async_engine(url)
    event.listen(engine.sync_engine, "connect", _sqlite_connect)
    event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def _create_private_file(path: Path) -> None:
    # The store holds personal data: create it owner-only (0600); SQLite gives its -wal and
    # -shm files the database file's permissions (os_unix.c findCreateFileMode).
    if not path.exists():
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _sqlite_connect(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
    # Take transaction control away from the sqlite3 module's legacy mode, which skips BEGIN
    # before DDL and SELECT (SQLAlchemy docs, "Transactions with SQLite and the sqlite3
    # driver"); `_sqlite_begin` emits BEGIN itself, so DDL and reads are transactional too.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _sqlite_begin(conn: Any) -> None:
    mode = conn.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {'IMMEDIATE' if mode == 'IMMEDIATE' else 'DEFERRED'}")


def _postgres_engine(url: URL) -> AsyncEngine:
    return create_async_engine(
        url,
        # Nodes lose connections on failover or idle timeouts; test each one before use.
        pool_pre_ping=True,
        # Per worker process at most 5 kept + 5 burst: nine worker processes (e.g. 3 nodes x 3
        # workers) stay under PostgreSQL's default max_connections of 100.
        pool_size=5,
        max_overflow=5,
        pool_timeout=10,
        pool_recycle=1800,
        connect_args={"timeout": 10, "server_settings": {"application_name": "consentgate"}},
    )
