"""A migrated store with n subjects, for the profile store and aggregate tests."""

from __future__ import annotations

import os
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
