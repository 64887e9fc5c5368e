"""Erasure's compaction on PostgreSQL and transactions older than it.

VACUUM FULL copies every row an open snapshot may still see, so a transaction that began
before the erasure (an autovacuum ANALYZE, another node's write) would carry the erased rows
into the rewritten files. `compact` waits for such transactions before it rewrites.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import asyncpg
import pytest

from consent.pseudonyms import new_visitor_id
from consent.store import ConsentStore
from dsr.service import compact, erase_rows
from gateway.wiring import components
from personalization_rules.profile_store import ProfileStore
from storage.store import open_store
from tests.gateway.dsr_scenario import pg_data_files, scan
from tests.stores import postgres_database

pytestmark = pytest.mark.postgres

HELD = 0.5  # seconds the older transaction stays open after the erasure


@pytest.fixture
def database() -> Iterator[str]:
    with postgres_database() as url:
        yield url


def test_compaction_outlives_a_transaction_older_than_the_erasure(database: str) -> None:
    customer = f"cust-{secrets.token_hex(8)}"

    async def main() -> float:
        store = await open_store(database, components=components())
        try:
            consent = await ConsentStore.open(store, os.urandom(32))
            now = datetime.now(UTC)
            subject = await consent.create_subject(new_visitor_id(os.urandom), now)
            assert await ProfileStore(store).set_customer(subject.id, customer, now)
            # Another session holds a snapshot that still sees the profile row, without touching
            # the table (so VACUUM FULL's lock does not wait for it).
            plain = database.replace("postgresql+asyncpg://", "postgresql://", 1)
            other = await asyncpg.connect(plain)
            older = other.transaction(isolation="repeatable_read")
            await older.start()
            assert await other.fetchval("SELECT 1") == 1
            await erase_rows(store, components(), subject.id)
            await consent.delete_subject(subject.id)

            async def finish_later() -> None:
                await asyncio.sleep(HELD)
                await older.commit()
                await other.close()

            finishing = asyncio.create_task(finish_later())
            started = time.monotonic()
            await compact(store, components())
            waited = time.monotonic() - started
            await finishing
            return waited
        finally:
            await store.close()

    waited = asyncio.run(main())
    assert scan(pg_data_files(database), {"customer": customer.encode()}) == []
    assert waited >= HELD * 0.8
