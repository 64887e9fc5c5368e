"""Where consent lives: subjects, pseudonymous visitor links and append-only consent records.

An I/O shell around `consent.state` and `consent.pseudonyms`. What is stored:
- `cg_keyring`: the HMAC keyring, sealed under the master key (never in plaintext).
- `cg_subjects`: a random subject id (`sub_<32 hex>`, the audit log's subject) and the random
  `subject_ref` customers see. Neither is derived from the cookie.
- `cg_visitors`: HMAC pseudonym of the visitor id → subject. The raw visitor id (the cookie
  value) is never stored.
- `cg_consent_records`: one row per choice, never updated (GDPR Art. 7(1): proof of each
  consent as given). Erasure deletes the subject; rows go with it (ON DELETE CASCADE).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ColumnElement

from audit.subject_crypto import new_subject_id
from consent.cache import LookupCache
from consent.pseudonyms import Keyring, new_subject_ref
from consent.state import ConsentRecord, Method
from storage.schema import (
    Migration,
    Retention,
    create_tables,
    not_personal,
    personal,
    register_component,
)
from storage.store import Store

metadata = MetaData()

cg_keyring = Table(
    "cg_keyring",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sealed", LargeBinary, nullable=False),
)
cg_subjects = Table(
    "cg_subjects",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("ref", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
cg_visitors = Table(
    "cg_visitors",
    metadata,
    Column("pseudonym", String(80), primary_key=True),
    Column(
        "subject_id",
        String(64),
        ForeignKey("cg_subjects.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
)
cg_consent_records = Table(
    "cg_consent_records",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "subject_id",
        String(64),
        ForeignKey("cg_subjects.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("policy_version", String(64), nullable=False),
    Column("text_hash", String(64), nullable=False),
    Column("language", String(8), nullable=False),
    Column("method", String(16), nullable=False),
    Column("regime", String(32), nullable=False),
    Column("granted", Text, nullable=False),  # JSON list of purpose ids
    Column("denied", Text, nullable=False),
    Column("gpc", Boolean, nullable=False),
    Column("gpc_override", Boolean, nullable=False),
    Column("chosen_at", DateTime(timezone=True), nullable=True),
    Index("ix_cg_consent_records_subject", "subject_id", "id"),
)

_FIRST_TABLES = tuple(metadata.sorted_tables)

# A change counter for everything a consent lookup reads, bumped by triggers in the same
# transaction as the change: whatever writes (this node, another node, the CLI, retention,
# a DSR erasure, plain SQL), the next reader sees the new value exactly when it can see the
# new rows. `consent.cache` keys its in-process cache on it.
cg_consent_epoch = Table(
    "cg_consent_epoch",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("n", Integer, nullable=False),
)
EPOCH_TABLES = ("cg_keyring", "cg_subjects", "cg_visitors", "cg_consent_records")


def _create_epoch(connection: Connection) -> None:
    cg_consent_epoch.create(connection)
    connection.execute(insert(cg_consent_epoch).values(id=1, n=0))
    bump = "UPDATE cg_consent_epoch SET n = n + 1 WHERE id = 1"
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(
            "CREATE FUNCTION cg_bump_consent_epoch() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {bump}; RETURN NULL; END $$"
        )
        for table in EPOCH_TABLES:
            connection.exec_driver_sql(
                f"CREATE TRIGGER {table}_epoch AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION cg_bump_consent_epoch()"
            )
        return
    for table in EPOCH_TABLES:
        for op in ("INSERT", "UPDATE", "DELETE"):
            connection.exec_driver_sql(
                f"CREATE TRIGGER {table}_epoch_{op.lower()} AFTER {op} ON {table} BEGIN {bump}; END"
            )


def _superseded(records: Table) -> ColumnElement[bool]:
    # GDPR Art. 7(1): each subject's latest record is the choice in force; keep its proof.
    latest = select(func.max(records.c.id)).group_by(records.c.subject_id)
    return records.c.id.not_in(latest)


CONSENT = register_component(
    "consent",
    [
        Migration("keyring, subjects, visitors, records", create_tables(*_FIRST_TABLES)),
        Migration("change counter for the lookup cache", _create_epoch),
    ],
    [
        not_personal(cg_keyring, "the sealed pseudonym keys, the same for every visitor"),
        personal(cg_subjects, "id", reindex=True),
        personal(cg_visitors, "subject_id", reindex=True),
        personal(
            cg_consent_records,
            "subject_id",
            Retention("consent_records", "ts", "consent_records", _superseded),
        ),
        not_personal(cg_consent_epoch, "a change counter"),
    ],
)

Random = Callable[[int], bytes]


@dataclass(frozen=True)
class Subject:
    """A data subject: the audit log's random id and the reference the customer sees."""

    id: str
    ref: str


def _utc(ts: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything we store is UTC.
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def record_of(row: object) -> ConsentRecord:
    """A stored `cg_consent_records` row as the record it holds."""
    r = row._mapping  # type: ignore[attr-defined]
    method: Method = r["method"]
    return ConsentRecord(
        policy_version=r["policy_version"],
        text_hash=r["text_hash"],
        language=r["language"],
        method=method,
        ts=_utc(r["ts"]),
        regime=r["regime"],
        granted=frozenset(json.loads(r["granted"])),
        denied=frozenset(json.loads(r["denied"])),
        gpc=bool(r["gpc"]),
        gpc_confirmed_override=bool(r["gpc_override"]),
        chosen_at=_utc(r["chosen_at"]) if r["chosen_at"] is not None else None,
    )


class SubjectGone(Exception):
    """The subject a write was meant for no longer exists (it was erased meanwhile)."""


async def _load_keyring(
    conn: AsyncConnection, master_key: bytes, rand: Random
) -> tuple[Keyring, bool]:
    """The stored keyring, or a new one stored now (then True); inside a write transaction."""
    sealed = await conn.scalar(select(cg_keyring.c.sealed).where(cg_keyring.c.id == 1))
    if sealed is not None:
        return Keyring.open(sealed, master_key), False
    keyring = Keyring.generate(rand)
    await conn.execute(insert(cg_keyring).values(id=1, sealed=keyring.seal(master_key, rand)))
    return keyring, True


class ConsentStore:
    """Subjects and their consent records, looked up by the visitor's pseudonym."""

    def __init__(
        self,
        store: Store,
        keyring: Keyring,
        rand: Random = os.urandom,
        master_key: bytes | None = None,
    ) -> None:
        self.store = store
        self.keyring = keyring
        self._rand = rand
        self._master_key = master_key
        self._cache = LookupCache(self)

    async def lookup(self, visitor_id: str) -> tuple[Subject | None, ConsentRecord | None]:
        """The visitor's subject and latest record, as `find_subject` then `latest` would
        give them now; from memory while the store has not changed (see `consent.cache`)."""
        return await self._cache.lookup(visitor_id)

    @classmethod
    async def open(cls, store: Store, master_key: bytes, rand: Random = os.urandom) -> ConsentStore:
        """Load the sealed keyring, creating it on first start (under the write lock, so two
        nodes starting together agree on one keyring)."""
        async with store.write() as conn:
            keyring, _ = await _load_keyring(conn, master_key, rand)
        return cls(store, keyring, rand, master_key)

    @staticmethod
    async def rotate(store: Store, master_key: bytes, rand: Random = os.urandom) -> Keyring:
        """`consentgate keys rotate`: add a key version; existing visitors are re-keyed lazily
        on their next visit (`find_subject` looks up every version, newest first)."""
        async with store.write() as conn:
            keyring, created = await _load_keyring(conn, master_key, rand)
            if created:
                return keyring
            keyring = keyring.rotate(rand)
            await conn.execute(
                update(cg_keyring)
                .where(cg_keyring.c.id == 1)
                .values(sealed=keyring.seal(master_key, rand))
            )
            return keyring

    async def find_subject(self, visitor_id: str) -> Subject | None:
        """The subject linked to this visitor id, under any key version (re-keying an old
        link to the current version). A miss reloads the keyring once: another node may have
        rotated it and re-keyed this visitor under a version we have not seen."""
        found = await self._find(visitor_id)
        if found is None and await self._reload_keyring():
            found = await self._find(visitor_id)
        return found

    async def _reload_keyring(self) -> bool:
        """Re-read the sealed keyring; True if it changed."""
        if self._master_key is None:
            return False
        async with self.store.engine.connect() as conn:
            sealed = await conn.scalar(select(cg_keyring.c.sealed).where(cg_keyring.c.id == 1))
        if sealed is None:
            return False
        keyring = Keyring.open(sealed, self._master_key)
        if keyring.keys == self.keyring.keys:
            return False
        self.keyring = keyring
        return True

    async def _find(self, visitor_id: str) -> Subject | None:
        candidates = list(self.keyring.candidates(visitor_id))
        async with self.store.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(cg_visitors.c.pseudonym, cg_subjects.c.id, cg_subjects.c.ref)
                    .join(cg_subjects, cg_subjects.c.id == cg_visitors.c.subject_id)
                    .where(cg_visitors.c.pseudonym.in_(candidates))
                )
            ).all()
        if not rows:
            return None
        by_pseudonym = {r.pseudonym: Subject(r.id, r.ref) for r in rows}
        current = candidates[0]
        if current in by_pseudonym:
            return by_pseudonym[current]
        old = next(p for p in candidates if p in by_pseudonym)
        subject = by_pseudonym[old]
        async with self.store.write() as conn:
            await conn.execute(
                update(cg_visitors).where(cg_visitors.c.pseudonym == old).values(pseudonym=current)
            )
        return subject

    async def create_subject(self, visitor_id: str, now: datetime) -> Subject:
        """A new subject for a new visitor id."""
        subject = Subject(new_subject_id(self._rand(16)), new_subject_ref(self._rand))
        async with self.store.write() as conn:
            await conn.execute(
                insert(cg_subjects).values(id=subject.id, ref=subject.ref, created_at=now)
            )
            await conn.execute(
                insert(cg_visitors).values(
                    pseudonym=self.keyring.pseudonym(visitor_id), subject_id=subject.id
                )
            )
        return subject

    async def subject_by_ref(self, ref: str) -> Subject | None:
        """The subject a customer's reference names (officer requests, CLI)."""
        async with self.store.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(cg_subjects.c.id, cg_subjects.c.ref).where(cg_subjects.c.ref == ref)
                )
            ).first()
        return Subject(row.id, row.ref) if row is not None else None

    async def latest(self, subject_id: str) -> ConsentRecord | None:
        """The subject's most recent record."""
        async with self.store.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(cg_consent_records)
                    .where(cg_consent_records.c.subject_id == subject_id)
                    .order_by(cg_consent_records.c.id.desc())
                    .limit(1)
                )
            ).first()
        return record_of(row) if row is not None else None

    async def history(self, subject_id: str) -> list[ConsentRecord]:
        """Every record of the subject, oldest first."""
        async with self.store.engine.connect() as conn:
            rows = await conn.execute(
                select(cg_consent_records)
                .where(cg_consent_records.c.subject_id == subject_id)
                .order_by(cg_consent_records.c.id)
            )
            return [record_of(r) for r in rows]

    async def append(self, subject_id: str, record: ConsentRecord) -> None:
        """Append a record; committed (durable) when this returns. Raises `SubjectGone` when
        the subject was erased meanwhile (a concurrent erasure of the same visitor)."""
        try:
            async with self.store.write() as conn:
                await _append(conn, subject_id, record)
        except IntegrityError:
            # The records' foreign key to the subject: found by schemathesis racing a consent
            # post against the same visitor's erasure (tests/gateway/test_openapi.py).
            async with self.store.engine.connect() as conn:
                found = await conn.scalar(
                    select(cg_subjects.c.id).where(cg_subjects.c.id == subject_id)
                )
            if found is None:
                raise SubjectGone(subject_id) from None
            raise

    async def delete_subject(self, subject_id: str) -> bool:
        """Erase the subject, its visitor links and consent records; False if unknown."""
        async with self.store.write() as conn:
            # Explicit deletes: SQLite enforces ON DELETE CASCADE only with foreign_keys on,
            # and an erasure must not depend on a connection setting.
            await conn.execute(
                delete(cg_consent_records).where(cg_consent_records.c.subject_id == subject_id)
            )
            await conn.execute(delete(cg_visitors).where(cg_visitors.c.subject_id == subject_id))
            result = await conn.execute(delete(cg_subjects).where(cg_subjects.c.id == subject_id))
        return bool(result.rowcount)


async def _append(conn: AsyncConnection, subject_id: str, record: ConsentRecord) -> None:
    await conn.execute(
        insert(cg_consent_records).values(
            subject_id=subject_id,
            ts=record.ts,
            policy_version=record.policy_version,
            text_hash=record.text_hash,
            language=record.language,
            method=record.method,
            regime=record.regime,
            granted=json.dumps(sorted(record.granted)),
            denied=json.dumps(sorted(record.denied)),
            gpc=record.gpc,
            gpc_override=record.gpc_confirmed_override,
            chosen_at=record.chosen_at,
        )
    )
