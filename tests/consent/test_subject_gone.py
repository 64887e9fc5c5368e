"""`ConsentStore.append` for a subject erased meanwhile raises `SubjectGone` (the consent API
answers 409), on SQLite and PostgreSQL. Found by schemathesis racing a consent post against
the same visitor's erasure (tests/gateway/test_openapi.py)."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime

import pytest

from consent.pseudonyms import new_visitor_id
from consent.state import ConsentRecord
from consent.store import ConsentStore, SubjectGone
from storage.store import open_store
from tests.consent.sample import consent_record


def record(now: datetime) -> ConsentRecord:
    return consent_record(now, {"analytics"}, method="api")


def test_append_after_erasure_raises_subject_gone(store_url: str) -> None:
    async def main() -> None:
        store = await open_store(store_url)
        try:
            consent = await ConsentStore.open(store, os.urandom(32))
            now = datetime.now(UTC)
            subject = await consent.create_subject(new_visitor_id(os.urandom), now)
            await consent.append(subject.id, record(now))
            assert await consent.delete_subject(subject.id)
            with pytest.raises(SubjectGone):
                await consent.append(subject.id, record(now))
            assert await consent.history(subject.id) == []
        finally:
            await store.close()

    asyncio.run(main())
