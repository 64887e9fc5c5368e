"""`audit.log.AuditLog` against real SQLite files and a real PostgreSQL database."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from audit_stores import MASTER_KEY, SUBJECT_A, SUBJECT_B, StepClock, sql, write_config

from audit.checkpoint import NoteSigner, open_checkpoint, parse_verifier_key
from audit.configured import build_audit_log
from audit.envelope import EnvelopeError
from audit.log import (
    AuditBacklog,
    AuditClosed,
    AuditLog,
    AuditUnavailable,
    CheckpointPolicy,
    SubjectErased,
)
from audit.sinks import read_notes
from audit.store import load_notes, load_records, subject_key
from audit.subject_crypto import DataUnreadable, SealedData, SubjectKey, open_sealed
from audit.verify import Report, verify_log
from gateway.wiring import load_config
from storage.store import Store, open_store
from tests import procs
from tests.cli import succeeded

ORIGIN = "test.example/audit"
SIGNER = NoteSigner(ORIGIN, b"\x05" * 32)


@asynccontextmanager
async def running(url: str, **kw: Any) -> AsyncIterator[tuple[Store, AuditLog]]:
    store = await open_store(url)
    kw.setdefault("clock", StepClock())
    log = AuditLog(store, signer=SIGNER, master_key=MASTER_KEY, origin=ORIGIN, **kw)
    await log.start()
    try:
        yield store, log
    finally:
        await log.close()
        await store.close()


async def verify(url: str, chain: str = "main") -> Report:
    store = await open_store(url)
    try:
        records = await load_records(store, chain)
        notes = await load_notes(store, chain)
    finally:
        await store.close()
    return verify_log(records, notes, [SIGNER.verifier()], origin=ORIGIN, chain=chain)


def test_appends_and_checkpoints_verify(store_url: str) -> None:
    async def scenario() -> None:
        policy = CheckpointPolicy(every_entries=5, every_seconds=3600)
        async with running(store_url, policy=policy, batch_max=3) as (_, log):
            for i in range(11):
                await log.append("system", "config.loaded", None, None)
                if i % 4 == 3:
                    await log.append_durable("subject", "consent.given", SUBJECT_A, {"n": i})
        report = await verify(store_url)
        assert report.ok, report.problem
        assert report.entries == 13
        store = await open_store(store_url)
        notes = await load_notes(store, "main")
        await store.close()
        sizes = [open_checkpoint(n, [SIGNER.verifier()]).size for n in notes]
        # Strictly growing, never more than 5 + one batch apart, and the tail is covered.
        assert sizes == sorted(set(sizes)) and sizes[-1] == 13
        assert all(b - a < 5 + 3 for a, b in zip([0, *sizes], sizes, strict=False))

    asyncio.run(scenario())


def test_durable_append_is_visible_from_a_fresh_connection(store_url: str) -> None:
    async def scenario() -> None:
        async with running(store_url) as (_, log):
            entry = await log.append_durable("subject", "consent.given", SUBJECT_A, {"a": True})
            # A new engine: nothing cached, nothing shared with the writer.
            other = await open_store(store_url, migrate=False)
            try:
                records = await load_records(other, "main")
            finally:
                await other.close()
            assert records == [entry.to_record()]

    asyncio.run(scenario())


def test_details_are_sealed_under_the_subjects_key(store_url: str) -> None:
    async def scenario() -> None:
        async with running(store_url) as (store, log):
            entry = await log.append_durable("subject", "consent.given", SUBJECT_A, {"x": "y"})
            key = await subject_key(store, MASTER_KEY, SUBJECT_A)
            assert key is not None and entry.data is not None
            opened = open_sealed(key, entry.data, chain="main", seq=entry.seq, subject=SUBJECT_A)
            assert opened == {"x": "y"}
            other = await log.append_durable("subject", "consent.given", SUBJECT_B, {"x": "z"})
            key_b = await subject_key(store, MASTER_KEY, SUBJECT_B)
            assert key_b is not None and key_b.key != key.key and other.data is not None
            with pytest.raises(DataUnreadable):
                open_sealed(key, other.data, chain="main", seq=other.seq, subject=SUBJECT_B)

    asyncio.run(scenario())
    # What is stored is ciphertext only: neither the key name nor the value in clear.
    [[(blob,)]] = sql(store_url, "SELECT data FROM cg_audit_entries WHERE seq = 0")
    assert '"x"' not in blob and '"y"' not in blob and '"alg":"A256GCM"' in blob


def test_erase_subject_shreds_the_key_and_keeps_the_chain(store_url: str) -> None:
    async def scenario() -> tuple[SubjectKey, list[bytes]]:
        async with running(store_url) as (store, log):
            entries = [
                await log.append_durable("subject", "consent.given", SUBJECT_A, {"i": i})
                for i in range(3)
            ]
            await log.append_durable("subject", "consent.given", SUBJECT_B, {"i": 9})
            key = await subject_key(store, MASTER_KEY, SUBJECT_A)
            assert key is not None
            query = ("SELECT key FROM cg_subject_keys WHERE subject = :s", {"s": SUBJECT_A})
            [[(sealed,)]] = await asyncio.to_thread(sql, store_url, query)
            tomb = await log.erase_subject(SUBJECT_A, actor="admin:officer")
            assert (tomb.action, tomb.subject, tomb.data, tomb.seq) == (
                "dsr.delete",
                SUBJECT_A,
                None,
                4,
            )
            assert await subject_key(store, MASTER_KEY, SUBJECT_A) is None
            assert await subject_key(store, MASTER_KEY, SUBJECT_B) is not None
            # No new key may be made for an erased subject.
            with pytest.raises(SubjectErased):
                await log.append_durable("subject", "consent.given", SUBJECT_A, {"i": 5})
            await log.append_durable("system", "dsr.export", SUBJECT_A)  # no details: fine
            await store.checkpoint()
            ciphertexts = [e.data.to_json()["ct"].encode() for e in entries if e.data is not None]
            return key, [bytes(sealed), *ciphertexts]

    key, secrets = asyncio.run(scenario())
    report = asyncio.run(verify(store_url))
    assert report.ok, report.problem
    # The tombstone is covered by a signed checkpoint at once.
    assert report.latest is not None and report.latest.size >= 5
    records = asyncio.run(verify_records(store_url))
    assert [r["action"] for r in records][4] == "dsr.delete"
    # Whoever holds the database and the master key now: no key opens the old details.
    keys = sql(store_url, "SELECT subject, kid, key FROM cg_subject_keys")[0]
    assert [subject for subject, _, _ in keys] == [SUBJECT_B]
    store_keys = [asyncio.run(_key(store_url, SUBJECT_B))]
    for record in records[:3]:
        sealed = SealedData.from_json(record["data"])
        for candidate in store_keys:
            with pytest.raises(DataUnreadable):
                open_sealed(candidate, sealed, chain="main", seq=record["seq"], subject=SUBJECT_A)
    # (With the key captured before erasure the data did open: the test can fail.)
    first = SealedData.from_json(records[0]["data"])
    assert open_sealed(key, first, chain="main", seq=0, subject=SUBJECT_A) == {"i": 0}
    if store_url.startswith("sqlite"):
        # secure_delete + WAL checkpoint: the sealed key's bytes are gone from every file.
        db = Path(store_url.split(":///", 1)[1])
        raw = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
        assert secrets[0] not in raw
        assert all(ct in raw for ct in secrets[1:])  # the chain itself stays


async def verify_records(url: str) -> list[dict[str, Any]]:
    store = await open_store(url)
    try:
        return [dict(r) for r in await load_records(store, "main")]
    finally:
        await store.close()


async def _key(url: str, subject: str) -> SubjectKey:
    store = await open_store(url)
    try:
        key = await subject_key(store, MASTER_KEY, subject)
    finally:
        await store.close()
    assert key is not None
    return key


def test_two_logs_on_one_store_keep_one_chain(store_url: str) -> None:
    """Two writers (two nodes) interleaving: each re-reads the head under the lock."""

    async def scenario() -> None:
        async with running(store_url) as (_, one), running(store_url) as (_, two):
            for i in range(6):
                writer = one if i % 2 else two
                entry = await writer.append_durable(f"node{i % 2}", "config.loaded")
                assert entry.seq == i
            await one.checkpoint_now()
            await two.append_durable("node0", "config.loaded")
        report = await verify(store_url)
        assert report.ok, report.problem
        assert report.entries == 7 and report.latest is not None and report.latest.size == 7

    asyncio.run(scenario())


def test_restart_continues_the_chain(store_url: str) -> None:
    async def session(n: int) -> None:
        async with running(store_url) as (_, log):
            for _ in range(n):
                await log.append("system", "config.loaded")

    asyncio.run(session(3))
    asyncio.run(session(4))
    report = asyncio.run(verify(store_url))
    assert report.ok and report.entries == 7


@contextmanager
def appender(config: Path, n: int, actor: str, go: Path) -> Iterator[subprocess.Popen[bytes]]:
    script = Path(__file__).with_name("audit_appender.py")
    with open(config.parent / f"{actor}.log", "wb") as out:
        process = procs.spawn(
            [sys.executable, str(script), str(config), str(n), actor, str(go)], out
        )
        try:
            yield process
        finally:
            procs.stop(process)


@pytest.mark.e2e
def test_two_processes_append_into_one_store(store_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, store_url, batch_max=8, checkpoint_every_entries=25)
    go = tmp_path / "go"
    with appender(config, 200, "node-a", go) as a, appender(config, 200, "node-b", go) as b:
        go.touch()
        assert a.wait(120) == 0, (tmp_path / "node-a.log").read_text()
        assert b.wait(120) == 0, (tmp_path / "node-b.log").read_text()
    # Both processes signed with the one key the first of them generated.
    verifier = parse_verifier_key((tmp_path / "audit-signing.key.pub").read_text())

    async def read() -> tuple[list[dict[str, object]], list[str]]:
        store = await open_store(store_url)
        try:
            return await load_records(store, "main"), await load_notes(store, "main")
        finally:
            await store.close()

    records, notes = asyncio.run(read())
    report = verify_log(records, notes, [verifier], origin="consentgate/audit")
    assert report.ok, report.problem
    assert [r["seq"] for r in records] == list(range(400))
    actors = [r["actor"] for r in records]
    # Both writers' entries are in the one chain. Whether their batches interleave is up to
    # the scheduler (one process may finish before the other starts), so it is not asserted.
    assert actors.count("node-a") == actors.count("node-b") == 200
    succeeded("audit", "verify", config=config)


def test_timed_checkpoint_covers_a_quiet_tail(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    policy = CheckpointPolicy(every_entries=1000, every_seconds=0.05)

    async def scenario() -> None:
        async with running(url, policy=policy, clock=_real_clock) as (store, log):
            await log.append_durable("system", "config.loaded")  # first: checkpointed at once
            await log.append("system", "config.loaded")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                notes = await load_notes(store, "main")
                if open_checkpoint(notes[-1], [SIGNER.verifier()]).size == 2:
                    return
                await asyncio.sleep(0.02)
            pytest.fail("no timed checkpoint over the quiet tail")

    asyncio.run(scenario())


def _real_clock() -> datetime:
    return datetime.now(UTC)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("system", "Consent Given"), EnvelopeError),
        (("", "config.loaded"), EnvelopeError),
        (("system", "consent.given", "not-a-subject"), EnvelopeError),
        (("system", "consent.given", None, {"a": 1}), EnvelopeError),  # details need a subject
        (("system", "consent.given", SUBJECT_A, {"f": 1.5}), EnvelopeError),  # no floats
        (("system", "dsr.delete", SUBJECT_A), EnvelopeError),  # only erase_subject() may
    ],
)
def test_append_rejects_bad_entries_at_the_caller(
    tmp_path: Path, args: tuple[Any, ...], error: type[Exception]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"

    async def scenario() -> None:
        async with running(url) as (_, log):
            with pytest.raises(error):
                await log.append(*args)
            with pytest.raises(error):
                await log.append_durable(*args)
        assert (await verify(url)).entries == 0

    asyncio.run(scenario())


def test_append_needs_a_running_log(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
        log = AuditLog(store, signer=SIGNER, master_key=MASTER_KEY, origin=ORIGIN)
        with pytest.raises(AuditClosed):
            await log.append("system", "config.loaded")
        await log.start()
        await log.close()
        with pytest.raises(AuditClosed):
            await log.append("system", "config.loaded")
        await store.close()

    asyncio.run(scenario())


def test_full_queue_raises_instead_of_blocking_or_dropping(tmp_path: Path) -> None:
    """The writer is stuck behind another process's write lock; the page is not."""
    db = tmp_path / "store.db"
    url = f"sqlite+aiosqlite:///{db}"

    async def scenario() -> None:
        async with running(url, queue_size=1, enqueue_timeout=0.05) as (_, log):
            blocker = sqlite3.connect(db, isolation_level=None)
            blocker.execute("BEGIN IMMEDIATE")
            try:
                await log.append("system", "config.loaded")  # taken by the writer, now stuck
                raised = None
                for _ in range(3):  # the queue's one slot fills, then appends raise
                    try:
                        await log.append("system", "config.loaded")
                    except AuditBacklog as exc:
                        raised = exc
                        break
                assert raised is not None and "queue full" in str(raised)
            finally:
                blocker.execute("ROLLBACK")
                blocker.close()
        # Everything accepted was written once the lock was free.
        report = await verify(url)
        assert report.ok and report.entries >= 2

    asyncio.run(scenario())


def test_build_audit_log_creates_the_signing_key(tmp_path: Path) -> None:
    config_path = write_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    settings = load_config(config_path).config.audit

    async def scenario() -> None:
        store = await open_store(load_config(config_path).config.storage.url)
        log = build_audit_log(store, settings, MASTER_KEY)
        await log.start()
        await log.append_durable("system", "config.loaded")
        await log.close()
        await store.close()

    asyncio.run(scenario())
    key = tmp_path / "audit-signing.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "audit-signing.key.pub").read_text().startswith("consentgate/audit+")
    # The sink file holds the same checkpoints as the store.
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    [stored] = sql(url, "SELECT note FROM cg_audit_checkpoints ORDER BY idx")
    assert read_notes(tmp_path / "checkpoints.jsonl", "main") == [n for (n,) in stored]


def test_store_failure_fails_durable_and_retries_queued_entries(tmp_path: Path) -> None:
    """While another process holds the write lock past busy_timeout, a durable append fails
    (its response must not confirm anything); queued entries are written once it is free."""
    db = tmp_path / "store.db"
    url = f"sqlite+aiosqlite:///{db}"

    async def scenario() -> None:
        async with running(url) as (_, log):
            await log.append_durable("system", "config.loaded")
            blocker = sqlite3.connect(db, isolation_level=None)
            blocker.execute("BEGIN IMMEDIATE")
            try:
                await log.append("system", "config.loaded")
                with pytest.raises(AuditUnavailable):
                    await log.append_durable("subject", "consent.given", SUBJECT_A, {"a": 1})
            finally:
                blocker.execute("ROLLBACK")
                blocker.close()
            await log.checkpoint_now()
        report = await verify(url)
        assert report.ok and report.entries == 2

    asyncio.run(scenario())
