"""Schema migrations: each component owns an ordered list of migrations; the runner applies the
missing ones at start, in one transaction, under a lock.

Design
------
- A *component* ("core", later "consent", "audit", ...) is a name and an ordered tuple of
  `Migration`s. Its version is the number of migrations; the table `cg_schema` holds one row
  (component, version) per component, so components evolve independently and a module that
  adds tables never edits another's list.
- `register_component(name, migrations)` adds a component to the process-wide registry that
  `open_store` migrates (in registration order, "core" first). Call it at import time of the
  module that owns the tables, e.g.::

      consent_records = Table("cg_consent", metadata, ...)
      CONSENT = register_component("consent", [
          Migration("consent records", create_tables(consent_records)),
      ])

  Tests and tools can pass an explicit list of components to `migrate` instead.
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, Text, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

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
class Component:
    """A named, ordered list of migrations; its version is how many there are."""

    name: str
    migrations: tuple[Migration, ...]

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


def component(name: str, migrations: Sequence[Migration]) -> Component:
    """Build a component after checking its name (lowercase identifier, at most 32 chars)."""
    if not _NAME.match(name):
        raise ValueError(f"component name {name!r} must match {_NAME.pattern}")
    if not migrations:
        raise ValueError(f"component {name!r} needs at least one migration")
    return Component(name, tuple(migrations))


CORE = component("core", [Migration("cg_meta key/value table", create_tables(cg_meta))])

_registry: dict[str, Component] = {CORE.name: CORE}


def register_component(name: str, migrations: Sequence[Migration]) -> Component:
    """Add a component to the registry that `open_store` migrates; returns it.

    Registering the same name again with the same migrations is a no-op (module reloads);
    a different list under a taken name is a `ValueError`.
    """
    new = component(name, migrations)
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
