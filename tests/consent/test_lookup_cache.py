"""`ConsentStore.lookup`'s in-process cache never serves what another node has changed.

Two stores on two engines stand for two gateway nodes (or a node and the CLI) sharing one
database, SQLite file or PostgreSQL: whatever one writes, the other's next lookup sees.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy import delete, text

from consent.pseudonyms import new_visitor_id
from consent.state import ConsentRecord
from consent.store import ConsentStore, Subject, cg_consent_records
from storage.store import Store, open_store
from tests.consent.sample import consent_record

KEY = os.urandom(32)


def record(now: datetime, granted: set[str]) -> ConsentRecord:
    return consent_record(now, granted, method="api")


async def cached_grant(store: ConsentStore, now: datetime) -> tuple[str, Subject]:
    """A new visitor whose subject granted analytics, looked up once through `store`."""
    visitor = new_visitor_id(os.urandom)
    subject = await store.create_subject(visitor, now)
    await store.append(subject.id, record(now, {"analytics"}))
    assert (await store.lookup(visitor))[1] is not None
    return visitor, subject


def two_nodes(
    store_url: str, body: Callable[[ConsentStore, ConsentStore, Store], Awaitable[None]]
) -> None:
    async def main() -> None:
        store_a, store_b = await open_store(store_url), await open_store(store_url)
        try:
            a = await ConsentStore.open(store_a, KEY)
            b = await ConsentStore.open(store_b, KEY)
            await body(a, b, store_b)
        finally:
            await store_a.close()
            await store_b.close()

    asyncio.run(main())


def test_a_choice_or_erasure_on_one_node_is_seen_by_the_others_next_lookup(
    store_url: str,
) -> None:
    async def body(a: ConsentStore, b: ConsentStore, _: Store) -> None:
        now = datetime.now(UTC)
        visitor = new_visitor_id(os.urandom)
        assert await a.lookup(visitor) == (None, None)  # unknown, and remembered as such
        subject = await b.create_subject(visitor, now)
        assert await a.lookup(visitor) == (subject, None)
        await b.append(subject.id, record(now, {"analytics"}))
        found, latest = await a.lookup(visitor)
        assert found == subject and latest is not None and latest.granted == {"analytics"}
        hits = a._cache.hits
        assert (await a.lookup(visitor))[1] == latest
        assert a._cache.hits == hits + 1  # nothing changed: served from memory
        await b.append(subject.id, record(now, set()))  # withdrawn on the other node
        assert (await a.lookup(visitor))[1].granted == frozenset()  # type: ignore[union-attr]
        assert await b.delete_subject(subject.id)
        assert await a.lookup(visitor) == (None, None)

    two_nodes(store_url, body)


def test_plain_sql_outside_the_store_class_invalidates_too(store_url: str) -> None:
    async def body(a: ConsentStore, b: ConsentStore, raw: Store) -> None:
        now = datetime.now(UTC)
        visitor, subject = await cached_grant(a, now)
        async with raw.write() as conn:  # e.g. retention, or an operator's clean-up
            await conn.execute(delete(cg_consent_records))
        assert await a.lookup(visitor) == (subject, None)

    two_nodes(store_url, body)


def test_an_unreadable_counter_means_uncached_lookups_not_wrong_ones(store_url: str) -> None:
    async def body(a: ConsentStore, b: ConsentStore, raw: Store) -> None:
        now = datetime.now(UTC)
        visitor, subject = await cached_grant(a, now)
        async with raw.write() as conn:
            await conn.execute(text("DELETE FROM cg_consent_epoch"))  # no counter to read
        misses = a._cache.misses
        await b.append(subject.id, record(now, set()))
        assert (await a.lookup(visitor))[1].granted == frozenset()  # type: ignore[union-attr]
        assert (await a.lookup(visitor))[1].granted == frozenset()  # type: ignore[union-attr]
        assert a._cache.misses == misses  # went to the store, past the cache

    two_nodes(store_url, body)
