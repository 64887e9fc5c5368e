"""The request log on SQLite and PostgreSQL: states, ordering, purge, and no stored reference."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from dsr.requests import DeadlinePolicy, Period
from dsr.requests_store import RequestsStore, cg_dsr_requests
from storage.store import open_store

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
REF = "CG-ABCDEFGHIJKLMNOP"
POLICY = DeadlinePolicy({"gdpr": Period(1, "months")}, {"gdpr": Period(2, "months")})


async def _scenario(url: str) -> None:
    store = await open_store(url)
    try:
        requests = RequestsStore(store, bytes(32), POLICY)
        first = await requests.receive("export", REF, "gdpr", "officer", T0)
        second = await requests.receive("delete", REF, "us-optout", "officer", T0)
        other = await requests.receive("export", "CG-ZZZZZZZZZZZZZZZZ", "gdpr", "cli", T0)
        assert first.deadline == datetime(2026, 4, 1, 10, tzinfo=UTC)
        assert await requests.get(first.id) == first

        extended = await requests.extend(first.id)
        assert extended is not None and extended.due == datetime(2026, 6, 1, 10, tzinfo=UTC)
        assert await requests.extend("dsr_unknown") is None

        # Open ones by the deadline in force: us-optout's default month, then the extension.
        listed = await requests.list_all(include_completed=False)
        assert [r.id for r in listed] == [second.id, other.id, first.id]
        assert await requests.complete(second.id, "admin:ann", T0 + timedelta(days=3))
        assert not await requests.complete(second.id, "admin:ann", T0)  # already done
        assert not await requests.complete("dsr_unknown", "admin:ann", T0)
        done = await requests.get(second.id)
        assert done is not None and done.completed_by == "admin:ann" and not done.overdue(T0)
        assert [r.id for r in await requests.list_all(include_completed=False)] == [
            other.id,
            first.id,
        ]
        everything = await requests.list_all(include_completed=True)
        assert [r.id for r in everything][-1] == second.id

        assert {r.id for r in await requests.for_ref(REF)} == {first.id, second.id}

        # The reference itself is stored nowhere.
        async with store.engine.connect() as conn:
            rows = (await conn.execute(select(cg_dsr_requests))).all()
        assert rows and all(REF not in str(value) for row in rows for value in row)

        # Only completed requests older than the cutoff are purged.
        assert await requests.purge(T0 + timedelta(days=1)) == 1
        assert await requests.get(second.id) is None
        assert await requests.get(first.id) is not None
        assert await requests.purge(T0 + timedelta(days=1000)) == 0
    finally:
        await store.close()


def test_request_log(store_url: str) -> None:
    asyncio.run(_scenario(store_url))
