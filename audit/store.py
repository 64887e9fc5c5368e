"""Where the audit log lives: entries, signed checkpoints and sealed per-subject keys.

An I/O shell around ``audit.envelope``, ``audit.checkpoint`` and ``audit.subject_crypto``;
registered as schema component "audit". Tables:

* ``cg_audit_entries``: one row per entry, primary key (chain, seq). The envelope
  members are columns (``ts`` kept as the canonical string, ``data`` and ``public`` as
  canonical JSON text; ``public`` is NULL for version-1 rows, which predate it) plus
  ``hash``; ``load_records`` rebuilds exactly ``Entry.to_record()`` from them, so the
  columns are the single source of truth that ``audit verify`` checks. ``leaf_hash`` (hex
  RFC 6962 leaf hash) is derived and only read by the writer to rebuild its Merkle state
  without re-parsing every entry; verification never trusts it.
* ``cg_audit_checkpoints``: signed notes in the order they were signed, primary key
  (chain, idx); ``size`` and ``created_at`` repeat what the writer needs to decide the next
  checkpoint (the note itself is what verification checks).
* ``cg_subject_keys``: one AES-256 data key per subject, sealed under the master key.

Sealed subject key (``key`` column), bytes::

    b"CGSK1" || nonce (12 random bytes) || AES-256-GCM(master key, nonce, 32-byte key, AAD)
    AAD = b"CGSK1" || subject (ASCII) || 0x00 || kid (ASCII)

The AAD binds a sealed key to its row: copying it to another subject does not open.
Destroying a key deletes its row (crypto-shredding, GDPR Art. 17); SQLite's
``secure_delete`` (set by ``storage.store``) zeroes the freed bytes, and the caller runs
``Store.checkpoint()`` afterwards so the WAL copy goes too.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import NotRequired, TypedDict

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    and_,
    inspect,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from audit.envelope import Entry, canonical_json, format_ts
from audit.merkle import HASH_SIZE
from audit.subject_crypto import KEY_BYTES, NONCE_BYTES, SubjectKey
from storage.schema import (
    Migration,
    create_tables,
    execute,
    kept,
    not_personal,
    personal,
    register_component,
)
from storage.store import Store

Random = Callable[[int], bytes]


class Record(TypedDict):
    """A stored entry as ``Entry.to_record()`` gives it (JSON-bound: bundles, verification).

    ``data`` and ``public`` are the parsed JSON, or the stored text when it does not parse
    (verification then reports the entry); a version-1 entry has no ``public``.
    """

    seq: int
    ts: str
    chain: str
    prev_hash: str
    hash: str
    actor: str
    action: str
    subject: str | None
    data: object
    public: NotRequired[object]
    v: int


SEALED_KEY_MAGIC = b"CGSK1"
DEFAULT_KID = "1"

metadata = MetaData()


def _entries_table(meta: MetaData, *extra: Column[str]) -> Table:
    return Table(
        "cg_audit_entries",
        meta,
        Column("chain", String(64), primary_key=True),
        Column("seq", BigInteger, primary_key=True, autoincrement=False),
        Column("v", Integer, nullable=False),
        Column("ts", String(32), nullable=False),
        Column("prev_hash", String(64), nullable=False),
        Column("hash", String(64), nullable=False),
        Column("actor", Text, nullable=False),
        Column("action", String(64), nullable=False),
        Column("subject", String(64), nullable=True),
        Column("data", Text, nullable=True),
        Column("leaf_hash", String(64), nullable=False),
        *extra,
        Index("ix_cg_audit_entries_subject", "subject"),
        Index("ix_cg_audit_entries_ts", "chain", "ts"),
    )


# The table as the first migration created it (released migrations are frozen: a fresh store
# gets this shape, then the later ``ADD COLUMN``s, like every store made before them).
_cg_audit_entries_v1 = _entries_table(MetaData())
cg_audit_entries = _entries_table(metadata, Column("public", Text, nullable=True))
cg_audit_checkpoints = Table(
    "cg_audit_checkpoints",
    metadata,
    Column("chain", String(64), primary_key=True),
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("note", Text, nullable=False),
)
cg_subject_keys = Table(
    "cg_subject_keys",
    metadata,
    Column("subject", String(64), primary_key=True),
    Column("kid", String(64), nullable=False),
    Column("key", LargeBinary, nullable=False),
)

AUDIT = register_component(
    "audit",
    [
        Migration(
            "audit entries, checkpoints, sealed subject keys",
            create_tables(_cg_audit_entries_v1, cg_audit_checkpoints, cg_subject_keys),
        ),
        Migration(
            "envelope v2: public (non-personal) details of an entry",
            execute("ALTER TABLE cg_audit_entries ADD COLUMN public TEXT"),
        ),
    ],
    [
        # The chain's proof: deleting entries would break it. An entry names only the random
        # subject id, and its data is sealed under the subject key that erasure destroys.
        kept(cg_audit_entries, "subject", "the audit chain; erasure shreds the subject's key"),
        not_personal(cg_audit_checkpoints, "signed tree heads"),
        personal(cg_subject_keys, "subject"),
    ],
)


class SubjectKeyError(ValueError):
    """A sealed subject key does not open under this master key (or was tampered with)."""


# --- subject keys -------------------------------------------------------------------------------


def _key_aad(subject: str, kid: str) -> bytes:
    return SEALED_KEY_MAGIC + subject.encode("ascii") + b"\x00" + kid.encode("ascii")


def _aead(master_key: bytes) -> AESGCM:
    if len(master_key) != KEY_BYTES:
        raise SubjectKeyError(f"the master key must be {KEY_BYTES} bytes")
    return AESGCM(master_key)


def seal_subject_key(master_key: bytes, subject: str, key: SubjectKey, nonce: bytes) -> bytes:
    """``key`` sealed for the row of ``subject`` (format in the module docstring)."""
    if len(nonce) != NONCE_BYTES:
        raise ValueError(f"nonce must be {NONCE_BYTES} bytes")
    sealed = _aead(master_key).encrypt(nonce, key.key, _key_aad(subject, key.kid))
    return SEALED_KEY_MAGIC + nonce + sealed


def open_subject_key(master_key: bytes, subject: str, kid: str, blob: bytes) -> SubjectKey:
    """The subject key in a sealed blob; SubjectKeyError on a wrong master key or tampering."""
    head = len(SEALED_KEY_MAGIC) + NONCE_BYTES
    if not blob.startswith(SEALED_KEY_MAGIC) or len(blob) != head + KEY_BYTES + 16:
        raise SubjectKeyError("not a sealed subject key")
    nonce = blob[len(SEALED_KEY_MAGIC) : head]
    try:
        raw = _aead(master_key).decrypt(nonce, blob[head:], _key_aad(subject, kid))
    except InvalidTag as exc:
        raise SubjectKeyError("subject key does not open with this master key") from exc
    return SubjectKey(kid=kid, key=raw)


async def get_subject_key(
    conn: AsyncConnection, master_key: bytes, subject: str
) -> SubjectKey | None:
    """The subject's data key, or None when it never had one or it was destroyed."""
    row = (
        await conn.execute(
            select(cg_subject_keys.c.kid, cg_subject_keys.c.key).where(
                cg_subject_keys.c.subject == subject
            )
        )
    ).first()
    if row is None:
        return None
    return open_subject_key(master_key, subject, row.kid, bytes(row.key))


async def create_subject_key(
    conn: AsyncConnection, master_key: bytes, subject: str, rand: Random
) -> SubjectKey:
    """Generate, seal and insert a fresh key for ``subject`` (call inside a write transaction)."""
    key = SubjectKey(kid=DEFAULT_KID, key=rand(KEY_BYTES))
    sealed = seal_subject_key(master_key, subject, key, rand(NONCE_BYTES))
    await conn.execute(cg_subject_keys.insert().values(subject=subject, kid=key.kid, key=sealed))
    return key


async def subject_key(store: Store, master_key: bytes, subject: str) -> SubjectKey | None:
    """Read-only lookup of a subject's key (to open its entries' ``data``)."""
    async with store.engine.connect() as conn:
        return await get_subject_key(conn, master_key, subject)


# --- entries and checkpoints --------------------------------------------------------------------


def entry_row(entry: Entry) -> dict[str, object]:
    """The ``cg_audit_entries`` row for ``entry``."""
    return {
        "chain": entry.chain,
        "seq": entry.seq,
        "v": entry.v,
        "ts": entry.ts,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
        "actor": entry.actor,
        "action": entry.action,
        "subject": entry.subject,
        "data": None if entry.data is None else canonical_json(entry.data.to_json()).decode(),
        "public": None if entry.public is None else canonical_json(entry.public_dict()).decode(),
        "leaf_hash": entry.leaf_hash().hex(),
    }


_RECORD_COLUMNS = tuple(Record.__annotations__)


def _json_or_text(text: str | None) -> object:
    # A corrupt text is passed on as a string so that verification reports the entry instead
    # of this function crashing.
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _record(row: object) -> Record:
    """A stored row as an entry record."""
    m = row._mapping  # type: ignore[attr-defined]
    record = Record(
        seq=int(m["seq"]),
        ts=m["ts"],
        chain=m["chain"],
        prev_hash=m["prev_hash"],
        hash=m["hash"],
        actor=m["actor"],
        action=m["action"],
        subject=m["subject"],
        data=_json_or_text(m["data"]),
        public=_json_or_text(m["public"]),
        v=int(m["v"]),
    )
    if m["v"] == 1 and m["public"] is None:
        del record["public"]  # exactly ``Entry.to_record()`` of a version-1 entry
    return record


async def _has_tables(conn: AsyncConnection) -> bool:
    return await conn.run_sync(lambda c: inspect(c).has_table(cg_audit_entries.name))


@dataclass(frozen=True)
class EntryFilter:
    """Which entries to read: half-open ``[since, until)`` by ``ts``, one action, one subject."""

    since: datetime | None = None
    until: datetime | None = None
    subject: str | None = None
    action: str | None = None

    def where(self, chain: str) -> ColumnElement[bool]:
        """The SQL condition (``ts`` strings are fixed-width UTC, so they sort as instants)."""
        t = cg_audit_entries.c
        clauses: list[ColumnElement[bool]] = [t.chain == chain]
        if self.since is not None:
            clauses.append(t.ts >= format_ts(self.since))
        if self.until is not None:
            clauses.append(t.ts < format_ts(self.until))
        if self.subject is not None:
            clauses.append(t.subject == self.subject)
        if self.action is not None:
            clauses.append(t.action == self.action)
        return and_(*clauses)


async def iter_records(
    store: Store, chain: str, where: EntryFilter = EntryFilter()
) -> AsyncIterator[Record]:
    """Stream the chain's entry records in seq order (nothing when the tables are absent)."""
    async with store.engine.connect() as conn:
        if not await _has_tables(conn):
            return
        t = cg_audit_entries.c
        columns = [getattr(t, name) for name in _RECORD_COLUMNS]
        result = await conn.stream(select(*columns).where(where.where(chain)).order_by(t.seq))
        async for row in result:
            yield _record(row)


async def load_records(store: Store, chain: str) -> list[Record]:
    """Every entry record of ``chain`` in seq order, as ``audit.verify.verify_log`` takes them."""
    return [record async for record in iter_records(store, chain)]


async def latest_note(store: Store, chain: str) -> str | None:
    """The chain's most recent signed checkpoint, or None."""
    t = cg_audit_checkpoints.c
    async with store.engine.connect() as conn:
        note: str | None = await conn.scalar(
            select(t.note).where(t.chain == chain).order_by(t.idx.desc()).limit(1)
        )
        return note


async def leaf_hashes(store: Store, chain: str, size: int) -> list[bytes]:
    """The chain's stored leaf hashes, seq 0 .. size-1, to be checked against a signed root:
    a stored hash that is not hex reads as zeros, which fails that check."""
    t = cg_audit_entries.c
    leaves: list[bytes] = []
    async with store.engine.connect() as conn:
        result = await conn.stream(
            select(t.leaf_hash).where(t.chain == chain, t.seq < size).order_by(t.seq)
        )
        async for row in result:
            try:
                leaves.append(bytes.fromhex(row.leaf_hash))
            except ValueError:
                leaves.append(bytes(HASH_SIZE))
    return leaves


async def load_notes(store: Store, chain: str) -> list[str]:
    """Every stored signed checkpoint of ``chain``, in the order they were signed."""
    async with store.engine.connect() as conn:
        if not await _has_tables(conn):
            return []
        t = cg_audit_checkpoints.c
        rows = await conn.execute(select(t.note).where(t.chain == chain).order_by(t.idx))
        return [row.note for row in rows]
