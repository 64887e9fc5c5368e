"""Schema migrations: each component owns an ordered list of migrations; the runner applies the
missing ones at start, in one transaction, under a lock.

Design
------
- A *component* ("core", later "consent", "audit", ...) is a name and an ordered tuple of
  `Migration`s. Its version is the number of migrations; the table `cg_schema` holds one row
  (component, version) per component, so components evolve independently and a module that
  adds tables never edits another's list.
- A component also declares what its tables hold (`tables`): for each table, the column that
  names a data subject, whether erasure deletes its rows, its retention (which
  `RetentionSettings` period, on which column), or that it holds nothing personal and why.
  Erasure, the PostgreSQL rewrite after it and the retention purge iterate these declarations,
  so a new personal table is erased and purged once declared, and a test fails until it is.
- `register_component(name, migrations, tables)` adds a component to the process-wide
  registry that `open_store` migrates by default (in registration order, "core" first), e.g.::

      consent_records = Table("cg_consent", metadata, ...)
      CONSENT = register_component(
          "consent",
          [Migration("consent records", create_tables(consent_records))],
          [personal(consent_records, "subject_id", Retention("consent_records", "ts"))],
      )

  The gateway passes its components to `open_store` explicitly (`gateway.wiring`); the
  registry is the default for tools and tests that open a store directly.
- A migration is a plain synchronous callable taking a SQLAlchemy `Connection` (run through
  `AsyncConnection.run_sync`), so it can use `Table.create`, `text(...)` or dialect checks.
  Released migrations are frozen: never edit or reorder them, append a new one. When a later
  migration alters a table, the earlier migration must keep creating the table as it was
  (give it its own `Table` copy or DDL text), or fresh databases would get the column twice.
- The runner: one transaction; PostgreSQL takes `pg_advisory_xact_lock(SCHEMA_LOCK)` first and
  SQLite begins with `BEGIN IMMEDIATE` (the write lock, taken before anything is read), so two
  gateway processes starting together on one store serialize: the second one waits, then sees
  the first one's versions and applies nothing. DDL is transactional on both dialects, so a
  failing migration leaves no half-built schema behind. A database whose version is newer
  than this code's refuses to start (running old code on a newer schema corrupts data).

Why SQLAlchemy Core and not the ORM or SQLModel: the gateway's stores are a few narrow tables
(append-only audit entries, consent records, key material) written by explicit statements on
the request path; Core gives typed tables, dialect-neutral DDL and upserts for SQLite and
PostgreSQL without an identity map, lazy loading or session lifetimes to reason about under
asyncio, and without pulling in another dependency. One `MetaData` per component keeps each
module's tables separate.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Delete,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.schema import sort_tables

# Key of the PostgreSQL advisory lock that serializes schema migrations between processes:
# the bytes "cgschema" as a signed 64-bit integer; any constant works as long as it never changes.
SCHEMA_LOCK = int.from_bytes(b"cgschema", "big", signed=True)

# Execution option read by the SQLite `begin` hook in `storage.store`: "IMMEDIATE" takes the
# write lock at BEGIN instead of at the first write.
SQLITE_BEGIN = "cg_sqlite_begin"

_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}\Z")

schema_metadata = MetaData()
cg_schema = Table(
    "cg_schema",
    schema_metadata,
    Column("component", String(32), primary_key=True),
    Column("version", Integer, nullable=False),
)

core_metadata = MetaData()
cg_meta = Table(
    "cg_meta",
    core_metadata,
    Column("key", String(200), primary_key=True),
    Column("value", Text, nullable=False),
)


class SchemaError(RuntimeError):
    """The stored schema cannot be brought to this code's version (e.g. it is newer)."""


@dataclass(frozen=True)
class Migration:
    """One schema step: `apply(connection)` runs inside the runner's transaction."""

    description: str
    apply: Callable[[Connection], None]


@dataclass(frozen=True)
class Retention:
    """Rows of a table expire `period` days (a `RetentionSettings` category) after `column`.

    `counted_as` names the count in a purge's summary; `only` narrows which rows may expire
    (e.g. not a subject's latest consent record, not an open request).
    """

    period: str
    column: str
    counted_as: str
    only: Callable[[Table], ColumnElement[bool]] | None = field(default=None, compare=False)

    def expired(self, table: Table, cutoff: object) -> Delete:
        """The statement deleting `table`'s rows that expired before `cutoff`."""
        where = [table.c[self.column] < cutoff]
        if self.only is not None:
            where.append(self.only(table))
        return delete(table).where(*where)


@dataclass(frozen=True)
class TableUse:
    """What one table holds, as the component that owns it declares it.

    `subject` is the column naming a data subject (None: no such column). `erase`: an erasure
    deletes the subject's rows. `personal`: it holds personal data (so the PostgreSQL rewrite
    after an erasure covers it when `erase`). `reindex`: SQLite rebuilds its indexes after an
    erasure (they are keyed by linking identifiers). `why` says why a table is kept or is not
    personal.
    """

    table: Table
    personal: bool
    subject: str | None = None
    erase: bool = False
    retention: Retention | None = None
    reindex: bool = False
    why: str = ""


def personal(
    table: Table,
    subject: str | None,
    retention: Retention | None = None,
    *,
    reindex: bool = False,
) -> TableUse:
    """A table of personal data; with a `subject` column, erasure deletes the subject's rows."""
    if subject is not None and subject not in table.c:
        raise ValueError(f"{table.name} has no column {subject!r}")
    if retention is not None and retention.column not in table.c:
        raise ValueError(f"{table.name} has no column {retention.column!r}")
    return TableUse(table, True, subject, subject is not None, retention, reindex)


def kept(table: Table, subject: str, why: str) -> TableUse:
    """A table naming subjects that erasure deliberately leaves in place (`why`)."""
    if subject not in table.c:
        raise ValueError(f"{table.name} has no column {subject!r}")
    return TableUse(table, True, subject, why=why)


def not_personal(table: Table, why: str) -> TableUse:
    """A table that holds nothing about a data subject (`why`)."""
    return TableUse(table, False, why=why)


@dataclass(frozen=True)
class Component:
    """A named, ordered list of migrations; its version is how many there are.

    `tables` declares what each of the component's tables holds (`TableUse`).
    """

    name: str
    migrations: tuple[Migration, ...]
    tables: tuple[TableUse, ...] = ()

    @property
    def version(self) -> int:
        """The schema version this code expects for the component."""
        return len(self.migrations)


def create_tables(*tables: Table) -> Callable[[Connection], None]:
    """A migration body that creates exactly `tables` (with their indexes), in order."""

    def apply(connection: Connection) -> None:
        for table in tables:
            table.create(connection)

    return apply


def execute(*statements: str) -> Callable[[Connection], None]:
    """A migration body that runs literal SQL statements, in order (frozen DDL)."""

    def apply(connection: Connection) -> None:
        for statement in statements:
            connection.execute(text(statement))

    return apply


def component(
    name: str, migrations: Sequence[Migration], tables: Iterable[TableUse] = ()
) -> Component:
    """Build a component after checking its name (lowercase identifier, at most 32 chars)."""
    if not _NAME.match(name):
        raise ValueError(f"component name {name!r} must match {_NAME.pattern}")
    if not migrations:
        raise ValueError(f"component {name!r} needs at least one migration")
    return Component(name, tuple(migrations), tuple(tables))


CORE = component(
    "core",
    [Migration("cg_meta key/value table", create_tables(cg_meta))],
    [
        not_personal(cg_schema, "schema versions"),
        not_personal(cg_meta, "node-wide settings and the write probe"),
    ],
)

_registry: dict[str, Component] = {CORE.name: CORE}


def register_component(
    name: str, migrations: Sequence[Migration], tables: Iterable[TableUse] = ()
) -> Component:
    """Add a component to the registry that `open_store` migrates; returns it.

    Registering the same name again with the same migrations is a no-op (module reloads);
    a different list under a taken name is a `ValueError`.
    """
    new = component(name, migrations, tables)
    existing = _registry.get(name)
    if existing is not None:
        if existing != new:
            raise ValueError(f"schema component {name!r} is already registered")
        return existing
    _registry[name] = new
    return new


def registered_components() -> tuple[Component, ...]:
    """Every registered component, "core" first, then in registration order."""
    return tuple(_registry.values())


def table_uses(components: Iterable[Component]) -> tuple[TableUse, ...]:
    """Every declared table of `components`, in their order."""
    return tuple(use for comp in components for use in comp.tables)


def erased(components: Iterable[Component]) -> tuple[TableUse, ...]:
    """The tables an erasure deletes a subject's rows from, referencing tables first (so a
    row goes before the row its foreign key points to)."""
    uses = {use.table: use for use in table_uses(components) if use.erase}
    return tuple(uses[t] for t in reversed(sort_tables(uses)))


def plan(stored: dict[str, int], components: Sequence[Component]) -> list[tuple[Component, int]]:
    """For each component, the index of its first missing migration (pure).

    Raises `SchemaError` when the stored version is newer than the code knows.
    """
    steps = []
    for comp in components:
        current = stored.get(comp.name, 0)
        if current > comp.version:
            raise SchemaError(
                f"schema component {comp.name!r} is at version {current} in the store but this "
                f"consentgate knows only {comp.version}; upgrade consentgate"
            )
        if current < comp.version:
            steps.append((comp, current))
    return steps


async def migrate(engine: AsyncEngine, components: Sequence[Component]) -> dict[str, int]:
    """Bring every component to its latest version; returns the versions now stored."""
    async with engine.connect() as conn:
        await conn.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
        async with conn.begin():
            await _lock(conn)
            await conn.run_sync(lambda c: cg_schema.create(c, checkfirst=True))
            rows = await conn.execute(select(cg_schema.c.component, cg_schema.c.version))
            stored: dict[str, int] = {name: version for name, version in rows}
            for comp, start in plan(stored, components):
                for migration in comp.migrations[start:]:
                    await conn.run_sync(migration.apply)
                if comp.name in stored:
                    await conn.execute(
                        cg_schema.update()
                        .where(cg_schema.c.component == comp.name)
                        .values(version=comp.version)
                    )
                else:
                    await conn.execute(
                        cg_schema.insert().values(component=comp.name, version=comp.version)
                    )
                stored[comp.name] = comp.version
    return stored


async def _lock(conn: AsyncConnection) -> None:
    # SQLite holds its write lock since BEGIN IMMEDIATE; PostgreSQL needs an explicit lock that
    # is released by COMMIT/ROLLBACK (PostgreSQL docs §9.27.10, advisory lock functions).
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
