"""`audit.store`: sealed subject keys, stored rows ↔ entry records, reading an absent log.

(Named test_audit_store.py, not test_store.py: test files without packages share one
namespace, and consent has a store too.)
"""

from __future__ import annotations

import asyncio

import pytest
from audit_testlog import sample_log

from audit.store import (
    SubjectKeyError,
    cg_audit_entries,
    create_subject_key,
    entry_row,
    load_notes,
    load_records,
    open_subject_key,
    seal_subject_key,
    subject_key,
)
from audit.subject_crypto import SubjectKey
from storage.schema import CORE
from storage.store import open_store

MASTER = b"\x0a" * 32
SUBJECT = "sub_" + "c3" * 16
OTHER = "sub_" + "d4" * 16
KEY = SubjectKey(kid="1", key=b"\x5a" * 32)
SEALED = seal_subject_key(MASTER, SUBJECT, KEY, b"\x01" * 12)


def test_sealed_key_format() -> None:
    # b"CGSK1" || nonce || ciphertext of 32 bytes || 16-byte tag
    assert SEALED[:5] == b"CGSK1" and SEALED[5:17] == b"\x01" * 12 and len(SEALED) == 65
    assert KEY.key not in SEALED
    opened = open_subject_key(MASTER, SUBJECT, "1", SEALED)
    assert opened.key == KEY.key and opened.kid == "1"


def _flip(blob: bytes, i: int) -> bytes:
    return blob[:i] + bytes([blob[i] ^ 1]) + blob[i + 1 :]


# (case, master key, subject, kid, blob)
OPEN_FAILURES = [
    ("wrong master key", b"\x0b" * 32, SUBJECT, "1", SEALED),
    ("moved to another subject", MASTER, OTHER, "1", SEALED),
    ("other kid", MASTER, SUBJECT, "2", SEALED),
    ("flipped ciphertext bit", MASTER, SUBJECT, "1", _flip(SEALED, 20)),
    ("flipped tag bit", MASTER, SUBJECT, "1", _flip(SEALED, 64)),
    ("flipped nonce bit", MASTER, SUBJECT, "1", _flip(SEALED, 6)),
    ("bad magic", MASTER, SUBJECT, "1", b"CGSK2" + SEALED[5:]),
    ("truncated", MASTER, SUBJECT, "1", SEALED[:-1]),
    ("empty", MASTER, SUBJECT, "1", b""),
    ("short master key", b"\x0a" * 16, SUBJECT, "1", SEALED),
]


@pytest.mark.parametrize(
    ("master", "subject", "kid", "blob"),
    [c[1:] for c in OPEN_FAILURES],
    ids=[c[0] for c in OPEN_FAILURES],
)
def test_sealed_key_does_not_open(master: bytes, subject: str, kid: str, blob: bytes) -> None:
    with pytest.raises(SubjectKeyError):
        open_subject_key(master, subject, kid, blob)


def test_subject_key_lifecycle(store_url: str) -> None:
    async def scenario() -> None:
        store = await open_store(store_url)
        try:
            assert await subject_key(store, MASTER, SUBJECT) is None
            async with store.write() as conn:
                made = await create_subject_key(conn, MASTER, SUBJECT, lambda n: b"\x07" * n)
            found = await subject_key(store, MASTER, SUBJECT)
            assert found is not None and found.key == made.key == b"\x07" * 32
            with pytest.raises(SubjectKeyError):
                await subject_key(store, b"\x0b" * 32, SUBJECT)
        finally:
            await store.close()

    asyncio.run(scenario())


def test_rows_round_trip_to_the_exact_records(store_url: str) -> None:
    log = sample_log(9, checkpoint_every=3)

    async def scenario() -> None:
        store = await open_store(store_url)
        try:
            async with store.write() as conn:
                await conn.execute(cg_audit_entries.insert(), [entry_row(e) for e in log.entries])
            assert await load_records(store, "main") == log.records()
            assert await load_records(store, "other") == []
        finally:
            await store.close()

    asyncio.run(scenario())


def test_corrupt_data_column_reaches_the_verifier(store_url: str) -> None:
    log = sample_log(3)

    async def scenario() -> None:
        store = await open_store(store_url)
        try:
            rows = [entry_row(e) for e in log.entries]
            rows[1]["data"] = "{not json"
            async with store.write() as conn:
                await conn.execute(cg_audit_entries.insert(), rows)
            records = await load_records(store, "main")
            assert records[1]["data"] == "{not json"  # passed on; verification names seq 1
        finally:
            await store.close()

    asyncio.run(scenario())


def test_a_store_without_audit_tables_reads_as_empty(store_url: str) -> None:
    async def scenario() -> None:
        store = await open_store(store_url, components=[CORE])
        try:
            assert await load_records(store, "main") == []
            assert await load_notes(store, "main") == []
        finally:
            await store.close()

    asyncio.run(scenario())
