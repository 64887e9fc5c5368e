"""A migrated store with n subjects, for the profile store and aggregate tests."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from consent.pseudonyms import new_visitor_id
from consent.store import ConsentStore
from personalization_rules import profile_store  # noqa: F401  (registers its component)
from storage.store import Store, open_store


async def store_with_subjects(url: str, n: int) -> tuple[Store, ConsentStore, list[str]]:
    """Open (and migrate) the store at `url` and create `n` subjects; their ids."""
    store = await open_store(url)
    consent = await ConsentStore.open(store, os.urandom(32))
    now = datetime.now(UTC)
    ids = [(await consent.create_subject(new_visitor_id(os.urandom), now)).id for _ in range(n)]
    return store, consent, ids


def with_subjects(url: str, n: int, body: Callable[[Store, list[str]], Awaitable[None]]) -> None:
    """Run `body` over the store at `url` holding `n` new subjects, then close the store."""

    async def main() -> None:
        store, _, ids = await store_with_subjects(url, n)
        try:
            await body(store, ids)
        finally:
            await store.close()

    asyncio.run(main())
