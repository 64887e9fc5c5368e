"""Store fixtures: every storage test runs against a fresh SQLite file and a fresh PostgreSQL
database (wired in through `tests/conftest.py`).

    def test_something(store_url: str) -> None:   # runs twice: [sqlite] and [postgresql]
        store = asyncio.run(open_store(store_url))

PostgreSQL is the server at 127.0.0.1:5432, user postgres, trust auth (`.ci/ensure-postgres.sh`
starts it); each test gets its own database `cg_test_<hex>`, dropped afterwards. When the server
is not reachable the PostgreSQL variants are skipped with the reason, unless
`CG_REQUIRE_POSTGRES=1` or `CI=true`, which turn that into a failure. `CG_TEST_POSTGRES`
overrides the host/port/user part (`postgresql://USER@HOST:PORT`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.environment import missing

SERVER = os.environ.get("CG_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
MAINTENANCE_DB = "postgres"


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(f"{SERVER}/{MAINTENANCE_DB}", timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh empty PostgreSQL database for one test; yields its asyncpg SQLAlchemy URL."""
    name = f"cg_test_{secrets.token_hex(6)}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        reason = f"PostgreSQL not reachable at {SERVER} ({exc}); run .ci/ensure-postgres.sh"
        if os.environ.get("CG_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        missing(reason)
    try:
        yield f"{SERVER.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"
    finally:
        # WITH (FORCE) (PostgreSQL 13+): a test that leaked a connection must not leak the db.
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def sqlite_url(directory: Path) -> str:
    """The URL of a (not yet existing) SQLite store file in `directory`."""
    return f"sqlite+aiosqlite:///{directory / 'store.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store URL: once a SQLite file, once a PostgreSQL database."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    with postgres_database() as url:
        yield url
