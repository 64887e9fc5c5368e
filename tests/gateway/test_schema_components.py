"""`gateway.wiring`: every table the gateway creates is declared by the component
that owns it, with what in it is personal; erasure, VACUUM and retention walk those
declarations."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from datetime import UTC, datetime

from sqlalchemy import inspect

import gateway.app  # noqa: F401  (every module that registers a component, as a gateway runs)
from dsr.retention import PurgeCounts, cutoffs
from gateway.wiring import components
from policies.models import RetentionSettings
from storage.schema import registered_components, table_uses
from storage.store import open_store

# Column names that say a row is about a person: a subject id, a visitor pseudonym, a
# customer's reference, an address.
SUBJECT_LIKE = re.compile(r"subject|pseudonym|visitor|(^|_)ref(_|$)|(^|_)ip(_|$)|address|email")


async def _stored_tables(url: str) -> dict[str, list[str]]:
    store = await open_store(url, components=components())
    try:
        async with store.engine.connect() as conn:

            def read(sync: object) -> dict[str, list[str]]:
                inspector = inspect(sync)
                return {
                    name: [c["name"] for c in inspector.get_columns(name)]
                    for name in inspector.get_table_names()
                }

            return await conn.run_sync(read)
    finally:
        await store.close()


def test_every_stored_table_is_declared_once_and_subject_columns_as_personal(
    store_url: str,
) -> None:
    stored = asyncio.run(_stored_tables(store_url))
    declared = [use.table.name for use in table_uses(components())]
    assert sorted(declared) == sorted(set(declared)), "a table declared twice"
    assert sorted(stored) == sorted(declared)
    uses = {use.table.name: use for use in table_uses(components())}
    for name, columns in stored.items():
        if any(SUBJECT_LIKE.search(column) for column in columns):
            assert uses[name].personal, f"{name} names a person but is declared not personal"
        if not uses[name].personal:
            assert uses[name].why, f"{name}: say why it holds nothing personal"


def test_the_wiring_names_every_registered_component() -> None:
    assert {c.name for c in registered_components()} <= {c.name for c in components()}


def test_every_retention_names_a_period_and_a_count_the_purge_knows() -> None:
    limits = cutoffs(RetentionSettings(), datetime.now(UTC))
    counts = {f.name for f in dataclasses.fields(PurgeCounts)}
    retained = [use.retention for use in table_uses(components()) if use.retention]
    assert {r.counted_as for r in retained} == counts
    for retention in retained:
        assert limits.of(retention.period) is not None


def test_tables_naming_a_subject_are_erased_unless_kept_on_purpose() -> None:
    for use in table_uses(components()):
        if use.subject is not None and not use.erase:
            assert use.why, f"{use.table.name} keeps subjects' rows: say why"
