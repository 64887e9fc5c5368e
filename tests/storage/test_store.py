import asyncio
import os
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Column, Connection, Integer, MetaData, Table, func, inspect, select, text

from storage.schema import (
    CORE,
    Migration,
    SchemaError,
    cg_schema,
    component,
    create_tables,
    execute,
    registered_components,
)
from storage.store import Store, StoreUnavailable, open_store, parse_store_url
from tests.stores import sqlite_url

REPO = Path(__file__).resolve().parents[2]

counter_md = MetaData()
runs = Table("test_runs", counter_md, Column("id", Integer, primary_key=True))


def add_run(connection: Connection) -> None:
    connection.execute(runs.insert())


def counter(n: int) -> list[Migration]:
    """A component whose first migration creates `test_runs` and each later one adds a row."""
    return [Migration("table", create_tables(runs))] + [
        Migration(f"row {i}", add_run) for i in range(1, n)
    ]


async def count_runs(store: Store) -> int:
    async with store.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(runs)) or 0)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- URLs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "not a database URL"),
        ("not a url", "not a database URL"),
        ("mysql+aiomysql://u@h/db", "driver 'mysql\\+aiomysql' is not supported"),
        ("sqlite:////tmp/x.db", "driver 'sqlite' is not supported"),  # sync driver
        ("postgresql://postgres@127.0.0.1/x", "driver 'postgresql' is not supported"),
        ("sqlite+aiosqlite://", "in-memory"),
        ("sqlite+aiosqlite:///:memory:", "in-memory"),
        ("sqlite+aiosqlite:///file:x?mode=memory&uri=true", "in-memory"),
        ("sqlite+aiosqlite:///consentgate.db", "must be absolute"),
        ("sqlite+aiosqlite:///./data/cg.db", "must be absolute"),
    ],
)
def test_bad_url_is_a_value_error_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_store_url(url)
    with pytest.raises(ValueError, match=reason):
        asyncio.run(open_store(url))


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite:////var/lib/consentgate/cg.db",
        "postgresql+asyncpg://cg:pw@db.internal:5432/consentgate",
        "postgresql+asyncpg:///consentgate",  # local socket
    ],
)
def test_good_urls_parse(url: str) -> None:
    assert parse_store_url(url).render_as_string(hide_password=False) == url


# --- SQLite connection settings --------------------------------------------------------------


def test_sqlite_pragmas_are_on_for_every_connection(tmp_path: Path) -> None:
    async def main() -> list[tuple[object, ...]]:
        store = await open_store(sqlite_url(tmp_path))
        names = ("journal_mode", "foreign_keys", "secure_delete", "synchronous", "busy_timeout")
        try:
            # Two connections held at once: the pool opened both, each must have the pragmas.
            async with store.engine.connect() as a, store.engine.connect() as b:
                return [
                    tuple([(await c.execute(text(f"PRAGMA {n}"))).scalar() for n in names])
                    for c in (a, b)
                ]
        finally:
            await store.close()

    # synchronous: 1 is NORMAL (sqlite.org/pragma.html#pragma_synchronous).
    assert asyncio.run(main()) == [("wal", 1, 1, 1, 5000)] * 2


def test_sqlite_files_are_private(tmp_path: Path) -> None:
    async def main() -> None:
        store = await open_store(sqlite_url(tmp_path))
        try:
            await store.set_meta("k", "v")
            wal = tmp_path / "store.db-wal"
            assert wal.exists()
            assert stat.S_IMODE(wal.stat().st_mode) == 0o600
        finally:
            await store.close()

    asyncio.run(main())
    assert stat.S_IMODE((tmp_path / "store.db").stat().st_mode) == 0o600


def test_sqlite_write_takes_the_write_lock_at_begin(tmp_path: Path) -> None:
    def other_writer_can_begin() -> bool:
        other = sqlite3.connect(tmp_path / "store.db", timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError as exc:
            assert "locked" in str(exc)
            return False
        finally:
            other.close()

    async def main() -> None:
        store = await open_store(sqlite_url(tmp_path))
        try:
            async with store.write():
                # Nothing written yet, and still a second writer has to wait.
                assert not other_writer_can_begin()
            assert other_writer_can_begin()
        finally:
            await store.close()

    asyncio.run(main())


def test_sqlite_checkpoint_empties_the_wal(tmp_path: Path) -> None:
    async def main() -> None:
        store = await open_store(sqlite_url(tmp_path))
        try:
            await store.set_meta("secret", "x" * 1000)
            assert (tmp_path / "store.db-wal").stat().st_size > 0
            await store.checkpoint()
            assert (tmp_path / "store.db-wal").stat().st_size == 0
        finally:
            await store.close()

    asyncio.run(main())


# --- both dialects ---------------------------------------------------------------------------


def test_open_migrates_and_reports_the_dialect(store_url: str) -> None:
    async def main() -> None:
        store = await open_store(store_url)
        try:
            assert store.dialect == store_url.split("+")[0]
            versions = await store.versions()
            # Every registered component is migrated (others register when imported).
            assert versions["core"] == 1
            assert set(versions) == {c.name for c in registered_components()}
            assert await store.ping() is True
        finally:
            await store.close()

    asyncio.run(main())


def test_migrations_are_idempotent_and_upgrade_only_what_is_missing(store_url: str) -> None:
    async def open_with(n: int) -> tuple[dict[str, int], int]:
        store = await open_store(store_url, components=[CORE, component("counter", counter(n))])
        try:
            return await store.versions(), await count_runs(store)
        finally:
            await store.close()

    async def main() -> None:
        assert await open_with(2) == ({"core": 1, "counter": 2}, 1)
        assert await open_with(2) == ({"core": 1, "counter": 2}, 1)  # nothing applied again
        assert await open_with(4) == ({"core": 1, "counter": 4}, 3)  # only rows 2 and 3 added

    asyncio.run(main())


def test_a_failing_migration_leaves_nothing_behind(store_url: str) -> None:
    def boom(connection: Connection) -> None:
        raise RuntimeError("boom")

    broken = component("broken", [*counter(2), Migration("boom", boom)])

    async def main() -> None:
        with pytest.raises(RuntimeError, match="boom"):
            await open_store(store_url, components=[CORE, broken])
        store = await open_store(store_url, migrate=False)
        try:
            async with store.engine.connect() as conn:
                tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
            # One transaction: not even core's tables or the version table survived.
            assert not {"test_runs", "cg_meta", "cg_schema"} & set(tables)
        finally:
            await store.close()

    asyncio.run(main())


def test_a_schema_newer_than_the_code_refuses_to_open(store_url: str) -> None:
    async def main() -> None:
        store = await open_store(store_url)
        async with store.write() as conn:
            await conn.execute(cg_schema.update().values(version=9))
        await store.close()
        with pytest.raises(SchemaError, match="version 9"):
            await open_store(store_url)

    asyncio.run(main())


def test_a_write_survives_closing_and_reopening(store_url: str) -> None:
    async def main() -> None:
        store = await open_store(store_url)
        await store.set_meta("config_sha256", "a" * 64)
        await store.set_meta("config_sha256", "b" * 64)  # upsert replaces
        await store.checkpoint()
        await store.close()
        store = await open_store(store_url)
        try:
            assert await store.get_meta("config_sha256") == "b" * 64
            assert await store.get_meta("missing") is None
        finally:
            await store.close()

    asyncio.run(main())


def run_child(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:  # the child died: show why
        assert proc.stderr is not None
        pytest.fail(f"child exited {proc.wait()}: {proc.stderr.read()}")
    return line.strip()


WRITE_AND_HANG = """
    import asyncio, sys
    from storage.store import open_store

    async def main(url):
        store = await open_store(url)
        await store.set_meta("consent", "given")
        print("committed", flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main(sys.argv[1]))
"""


def test_a_commit_survives_sigkill(store_url: str) -> None:
    child = run_child(WRITE_AND_HANG, store_url)
    try:
        assert read_line(child) == "committed"
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate()

    async def main() -> str | None:
        store = await open_store(store_url)
        try:
            return await store.get_meta("consent")
        finally:
            await store.close()

    assert asyncio.run(main()) == "given"


MIGRATE_ON_GO = """
    import asyncio, pathlib, sys, time
    from sqlalchemy import Column, Integer, MetaData, Table
    from storage.schema import CORE, Migration, component, create_tables, migrate
    from storage.store import open_store

    runs = Table("test_runs", MetaData(), Column("id", Integer, primary_key=True))

    def slow_row(connection):
        time.sleep(0.3)  # widens the race window; nothing asserts on time
        connection.execute(runs.insert())

    RACE = component("race", [Migration("table", create_tables(runs)), Migration("row", slow_row)])

    async def main(url, go):
        store = await open_store(url, migrate=False)
        assert await store.ping()  # connected before the start signal
        print("ready", flush=True)
        while not pathlib.Path(go).exists():
            await asyncio.sleep(0.005)
        print(sorted((await migrate(store.engine, [CORE, RACE])).items()), flush=True)
        await store.close()

    asyncio.run(main(*sys.argv[1:]))
"""


def test_two_processes_migrating_at_once_both_succeed(store_url: str, tmp_path: Path) -> None:
    go = tmp_path / "go"
    children = [run_child(MIGRATE_ON_GO, store_url, str(go)) for _ in range(2)]
    try:
        assert [read_line(c) for c in children] == ["ready", "ready"]
        go.touch()
        results = [c.communicate(timeout=120) for c in children]
    finally:
        for c in children:
            if c.poll() is None:
                c.kill()
                c.communicate()
    assert [c.returncode for c in children] == [0, 0], results
    assert [out.strip() for out, _ in results] == ["[('core', 1), ('race', 2)]"] * 2

    async def main() -> tuple[dict[str, int], int]:
        store = await open_store(store_url, migrate=False)
        try:
            return await store.versions(), await count_runs(store)
        finally:
            await store.close()

    # Each migration ran exactly once.
    assert asyncio.run(main()) == ({"core": 1, "race": 2}, 1)


# --- unreachable stores ----------------------------------------------------------------------


def garbage_sqlite(tmp_path: Path) -> str:
    (tmp_path / "store.db").write_bytes(b"this is not a database, just some bytes" * 100)
    return sqlite_url(tmp_path)


def missing_dir_sqlite(tmp_path: Path) -> str:
    return sqlite_url(tmp_path / "no" / "such" / "dir")


def closed_port_postgres(tmp_path: Path) -> str:
    return f"postgresql+asyncpg://postgres:s3cret@127.0.0.1:{closed_port()}/x"


@pytest.mark.parametrize("make_url", [garbage_sqlite, closed_port_postgres])
def test_ping_is_false_and_never_raises_when_the_store_is_unreachable(
    make_url: Callable[[Path], str], tmp_path: Path
) -> None:
    async def main() -> bool:
        store = await open_store(make_url(tmp_path), migrate=False)
        try:
            return await store.ping()
        finally:
            await store.close()

    assert asyncio.run(main()) is False


def test_ping_is_false_when_the_sqlite_directory_is_gone(tmp_path: Path) -> None:
    async def main() -> tuple[bool, bool]:
        store = await open_store(sqlite_url(tmp_path / "data"), migrate=False)
        try:
            before = await store.ping()
            for file in (tmp_path / "data").iterdir():  # the file and its -wal and -shm
                file.unlink()
            (tmp_path / "data").rmdir()
            return before, await store.ping()
        finally:
            await store.close()

    (tmp_path / "data").mkdir()
    assert asyncio.run(main()) == (True, False)


@pytest.mark.parametrize("make_url", [garbage_sqlite, missing_dir_sqlite, closed_port_postgres])
def test_opening_an_unreachable_store_is_a_clear_error(
    make_url: Callable[[Path], str], tmp_path: Path
) -> None:
    with pytest.raises(StoreUnavailable, match="cannot open store") as caught:
        asyncio.run(open_store(make_url(tmp_path)))
    assert "s3cret" not in str(caught.value)  # the password is never printed


def test_ping_gives_up_after_its_timeout(tmp_path: Path) -> None:
    async def main() -> bool:
        store = await open_store(sqlite_url(tmp_path))
        try:
            return await store.ping(timeout=0)
        finally:
            await store.close()

    assert asyncio.run(main()) is False


def test_a_migration_can_be_literal_sql(store_url: str) -> None:
    frozen = component(
        "frozen",
        [
            Migration(
                "t",
                execute(
                    "CREATE TABLE t_frozen (id INTEGER PRIMARY KEY)",
                    "INSERT INTO t_frozen (id) VALUES (7)",
                ),
            )
        ],
    )

    async def main() -> object:
        store = await open_store(store_url, components=[CORE, frozen])
        try:
            async with store.engine.connect() as conn:
                return await conn.scalar(text("SELECT id FROM t_frozen"))
        finally:
            await store.close()

    assert asyncio.run(main()) == 7
