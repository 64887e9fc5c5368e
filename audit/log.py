"""The audit log's appender: a bounded queue, one background writer, signed checkpoints.

Flow: ``append`` validates an entry and puts it on a bounded ``asyncio.Queue``; it never
waits for the database. One writer task per process drains the queue in batches of up to
``batch_max``. Each batch is ONE write transaction that

1. takes the cross-node lock: PostgreSQL ``pg_advisory_xact_lock(AUDIT_LOCK)``, SQLite
   ``BEGIN IMMEDIATE`` (``Store.write``); both are released by COMMIT/ROLLBACK;
2. re-reads the chain head and the last checkpoint FROM THE STORE (another node may have
   appended since) and brings this process's Merkle compact range up to date;
3. assigns each entry the next seq and ``prev_hash``, seals its details under the subject's
   key (creating the key on first use), inserts the rows;
4. signs and inserts a checkpoint when ``audit.checkpoint.checkpoint_due`` says so.

Entries and the checkpoint covering them commit together, so every node sees one chain with
checkpoints in increasing size order (verification requires that). After the commit, new
checkpoints go to the sinks on a separate task so a slow webhook never delays the writer.

Back-pressure (the page must not wait, and an audit entry must not vanish silently): when
the queue is full, ``append`` waits at most ``enqueue_timeout`` seconds for room and then
raises ``AuditBacklog``; the caller logs it (the request itself goes on). When the store is
down, non-durable entries stay in the batch and are retried with backoff; durable callers
get ``AuditUnavailable`` at once so the response that would confirm their choice fails.

``append_durable`` returns once its entry is committed: a consent choice is durable before
the response that confirms it. ``erase_subject`` deletes the subject's key and appends the
tombstone in one transaction, then signs a checkpoint covering it.

Limits: ``start`` rebuilds the compact range from every stored leaf hash (one indexed scan;
about a second per 1e5 entries). Entry ``ts`` is the time ``append`` was called (when it
happened), so across nodes it need not grow with seq.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from audit import merkle
from audit.checkpoint import Checkpoint, NoteSigner, checkpoint_due, sign_checkpoint
from audit.envelope import (
    ERASURE_ACTION,
    GENESIS_PREV_HASH,
    Entry,
    EnvelopeError,
    build_entry,
    canonical_json,
    format_ts,
    parse_ts,
    tombstone,
)
from audit.sinks import CheckpointSink
from audit.store import (
    cg_audit_checkpoints,
    cg_audit_entries,
    cg_subject_keys,
    create_subject_key,
    entry_row,
    get_subject_key,
)
from audit.subject_crypto import NONCE_BYTES, SubjectKey, seal
from storage.store import Store

log = logging.getLogger("consentgate.audit")

# Key of the PostgreSQL advisory lock serializing audit appends between nodes: the bytes
# "cg-audit" as a signed 64-bit integer; never change it (old and new nodes must agree).
AUDIT_LOCK = int.from_bytes(b"cg-audit", "big", signed=True)
ENQUEUE_TIMEOUT_S = 0.25
CLOSE_TIMEOUT_S = 30.0
MAX_BACKOFF_S = 5.0

Random = Callable[[int], bytes]
Clock = Callable[[], datetime]


class AuditError(RuntimeError):
    """Base of the audit log's errors."""


class AuditBacklog(AuditError):
    """The queue stayed full for ``enqueue_timeout``: the entry was NOT recorded; log it."""


class AuditUnavailable(AuditError):
    """The store failed while committing a durable entry; it was not recorded."""


class AuditClosed(AuditError):
    """The log is not running (``start`` not called, or closed)."""


class SubjectErased(AuditError):
    """Personal details for a subject whose key was destroyed: they cannot be sealed."""


@dataclass(frozen=True)
class CheckpointPolicy:
    """Sign a checkpoint after this many new entries or this many seconds (whichever first)."""

    every_entries: int = 100
    every_seconds: float = 60.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


Kind = Literal["entry", "erasure", "checkpoint"]


@dataclass
class _Pending:
    kind: Kind
    ts: datetime
    actor: str = "system"
    action: str = ""
    subject: str | None = None
    details: Mapping[str, object] | None = None
    future: asyncio.Future[Entry | None] | None = None
    public: Mapping[str, object] | None = None


@dataclass
class _Head:
    """This process's view of the chain: size, head hash and the Merkle compact range."""

    size: int = 0
    head_hash: str = GENESIS_PREV_HASH
    tree: merkle.CompactRange = field(default_factory=merkle.CompactRange)

    def add(self, seq: int, entry_hash: str, leaf: bytes) -> None:
        self.tree.append(leaf)
        self.size = seq + 1
        self.head_hash = entry_hash


@dataclass(frozen=True)
class _LastCheckpoint:
    count: int  # checkpoints stored so far (the next one's idx)
    size: int
    at: datetime | None


_STOP = object()


class AuditLog:
    """Appends entries to one chain of the store; see the module docstring."""

    def __init__(
        self,
        store: Store,
        *,
        chain: str = "main",
        signer: NoteSigner,
        master_key: bytes,
        origin: str,
        policy: CheckpointPolicy = CheckpointPolicy(),
        sinks: Sequence[CheckpointSink] = (),
        queue_size: int = 10_000,
        batch_max: int = 256,
        enqueue_timeout: float = ENQUEUE_TIMEOUT_S,
        clock: Clock = _utcnow,
        rand: Random = os.urandom,
    ) -> None:
        # Fail at construction, not in the writer: the checkpoint body must be valid.
        Checkpoint(origin, 0, merkle.EMPTY_ROOT)
        build_entry(
            chain=chain, seq=0, prev_hash=GENESIS_PREV_HASH, now=clock(), actor="x", action="a.b"
        )
        self.store = store
        self.chain = chain
        self.origin = origin
        self.policy = policy
        self._signer = signer
        self._master_key = master_key
        self._sinks = tuple(sinks)
        self._queue: asyncio.Queue[_Pending | object] = asyncio.Queue(queue_size)
        self._sink_queue: asyncio.Queue[tuple[str, str] | None] = asyncio.Queue()
        self._batch_max = batch_max
        self._enqueue_timeout = enqueue_timeout
        self._clock = clock
        self._rand = rand
        self._head = _Head()
        self._covered = 0  # chain size the newest checkpoint this node saw covers
        self.entries_written = 0  # by this process (metrics)
        self._writer: asyncio.Task[None] | None = None
        self._sink_task: asyncio.Task[None] | None = None
        self._closing = False

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the chain state from the store and start the writer."""
        if self._writer is not None:
            raise AuditError("audit log already started")
        async with self.store.engine.connect() as conn:
            self._head = await _rebuild(conn, self.chain)
        self._writer = asyncio.create_task(self._run(), name="audit-writer")
        self._sink_task = asyncio.create_task(self._push_sinks(), name="audit-sinks")

    async def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Flush the queue, sign a final checkpoint over any uncovered tail, stop the tasks.

        Entries still unwritten after ``timeout`` (store down) are logged as lost.
        """
        if self._writer is None or self._closing:
            return
        self._closing = True
        await self._queue.put(_Pending("checkpoint", self._clock()))
        await self._queue.put(_STOP)
        try:
            await asyncio.wait_for(asyncio.shield(self._writer), timeout)
        except TimeoutError:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            lost = self._queue.qsize()
            log.error("audit log closed with the store unavailable; %d entries lost", lost)
        self._sink_queue.put_nowait(None)
        if self._sink_task is not None:
            await self._sink_task
        for sink in self._sinks:
            await sink.close()

    @property
    def size(self) -> int:
        """Entries in the chain as of this process's last commit (other nodes may add more)."""
        return self._head.size

    # --- appending ------------------------------------------------------------------------------

    def _probe(self, build: Callable[..., Entry], **fields: object) -> None:
        # Build the entry once at a placeholder position, so a bad field (subject id, action,
        # details) fails the caller with EnvelopeError instead of the writer task.
        build(chain=self.chain, seq=0, prev_hash=GENESIS_PREV_HASH, **fields)

    def _validate(
        self,
        actor: str,
        action: str,
        subject: str | None,
        details: Mapping[str, object] | None,
        public: Mapping[str, object] | None,
    ) -> datetime:
        now = self._clock()
        fields = {"actor": actor, "action": action, "subject": subject, "public": public}
        self._probe(build_entry, now=now, **fields)
        if action == ERASURE_ACTION:
            raise EnvelopeError("record an erasure with erase_subject(), which destroys the key")
        if details is not None:
            if subject is None:
                raise EnvelopeError("details are personal data: they need a subject")
            canonical_json(dict(details))
        return now

    async def _put(self, item: _Pending) -> None:
        if self._writer is None or self._closing:
            raise AuditClosed("the audit log is not running")
        try:
            self._queue.put_nowait(item)
            return
        except asyncio.QueueFull:
            pass
        try:
            async with asyncio.timeout(self._enqueue_timeout):
                await self._queue.put(item)
        except TimeoutError:
            raise AuditBacklog(
                f"audit queue full ({self._queue.maxsize}); {item.action} not recorded"
            ) from None

    async def append(
        self,
        actor: str,
        action: str,
        subject: str | None = None,
        details: Mapping[str, object] | None = None,
        *,
        public: Mapping[str, object] | None = None,
    ) -> None:
        """Queue an entry; returns before it is written.

        ``details`` are personal (sealed under the subject's key); ``public`` are non-personal
        details kept in the clear (config hash, key version, counts), never in ``actor``.
        Raises ``EnvelopeError`` for an invalid entry, ``AuditBacklog`` when the queue stayed
        full (the entry is lost: log it), ``AuditClosed`` when the log is not running.
        """
        now = self._validate(actor, action, subject, details, public)
        await self._put(_Pending("entry", now, actor, action, subject, details, public=public))

    async def append_durable(
        self,
        actor: str,
        action: str,
        subject: str | None = None,
        details: Mapping[str, object] | None = None,
        *,
        public: Mapping[str, object] | None = None,
    ) -> Entry:
        """Queue an entry and wait until it is committed; returns it.

        Besides ``append``'s errors: ``AuditUnavailable`` when the store failed, and
        ``SubjectErased`` for details of an erased subject.
        """
        now = self._validate(actor, action, subject, details, public)
        future: asyncio.Future[Entry | None] = asyncio.get_running_loop().create_future()
        await self._put(_Pending("entry", now, actor, action, subject, details, future, public))
        entry = await future
        assert entry is not None
        return entry

    async def erase_subject(self, subject: str, actor: str = "system") -> Entry:
        """Crypto-shred ``subject``: destroy its key, append the tombstone, sign a checkpoint.

        Key deletion and tombstone commit in one transaction; returns the tombstone once the
        checkpoint covering it is committed too. The subject's old entries stay in the chain
        (so it still verifies) but their ``data`` can no longer be opened.
        """
        now = self._clock()
        self._probe(tombstone, now=now, actor=actor, subject=subject)
        future: asyncio.Future[Entry | None] = asyncio.get_running_loop().create_future()
        await self._put(_Pending("erasure", now, actor, ERASURE_ACTION, subject, None, future))
        entry = await future
        assert entry is not None
        return entry

    async def checkpoint_now(self) -> None:
        """Sign a checkpoint now if entries arrived since the last one; waits for the commit."""
        future: asyncio.Future[Entry | None] = asyncio.get_running_loop().create_future()
        await self._put(_Pending("checkpoint", self._clock(), future=future))
        await future

    @property
    def queue_depth(self) -> int:
        """Entries waiting for the writer (metrics)."""
        return self._queue.qsize()

    # --- the writer -----------------------------------------------------------------------------

    async def _run(self) -> None:
        stop = False
        while not stop:
            try:
                async with asyncio.timeout(self.policy.every_seconds):
                    first = await self._queue.get()
            except TimeoutError:
                if self._head.size > self._covered:
                    # Timed checkpoint over entries that arrived since the last one, if any.
                    await self._commit([_Pending("checkpoint", self._clock())])
                continue
            batch: list[_Pending] = []
            item: _Pending | object = first
            while True:
                if item is _STOP:
                    stop = True
                    break
                assert isinstance(item, _Pending)
                batch.append(item)
                if len(batch) >= self._batch_max or self._queue.empty():
                    break
                item = self._queue.get_nowait()
            if batch:
                await self._commit(batch)

    async def _commit(self, batch: list[_Pending]) -> None:
        """Write a batch, retrying non-durable entries while the store is down."""
        attempt = 0
        while batch:
            try:
                await self._write(batch)
                self.entries_written += sum(1 for i in batch if i.kind != "checkpoint")
                return
            except Exception as exc:  # store errors of any driver: keep the writer alive
                attempt += 1
                waiting = [i for i in batch if i.future is not None]
                for item in waiting:
                    if item.future is not None and not item.future.done():
                        item.future.set_exception(AuditUnavailable(f"audit store failed: {exc}"))
                batch = [i for i in batch if i.future is None]
                if not batch:
                    return
                if self._closing and attempt >= 3:
                    actions = ", ".join(sorted({i.action or i.kind for i in batch}))
                    log.error(
                        "audit store failed (%s); %d entries lost: %s", exc, len(batch), actions
                    )
                    return
                delay = min(MAX_BACKOFF_S, 0.1 * 2**attempt)
                log.error("audit store failed (%s); retrying %d entries", exc, len(batch))
                await asyncio.sleep(delay)

    async def _write(self, batch: list[_Pending]) -> None:
        done: list[tuple[_Pending, Entry | None]] = []
        rejected: list[tuple[_Pending, AuditError]] = []
        note: str | None = None
        async with self.store.write() as conn:
            await _lock(conn)
            head = await _sync(conn, self.chain, self._head)
            last = await _last_checkpoint(conn, self.chain)
            keys: dict[str, SubjectKey | None] = {}
            erased: set[str] = set()
            rows: list[dict[str, object]] = []
            erasure = force = False
            for item in batch:
                if item.kind == "checkpoint":
                    force = True
                    done.append((item, None))
                    continue
                entry = await self._entry(conn, head, item, keys, erased)
                if isinstance(entry, AuditError):
                    rejected.append((item, entry))
                    continue
                if item.kind == "erasure":
                    assert item.subject is not None
                    await conn.execute(
                        delete(cg_subject_keys).where(cg_subject_keys.c.subject == item.subject)
                    )
                    erased.add(item.subject)
                    keys[item.subject] = None
                    erasure = True
                rows.append(entry_row(entry))
                head.add(entry.seq, entry.hash, entry.leaf_hash())
                done.append((item, entry))
            if rows:
                await conn.execute(cg_audit_entries.insert(), rows)
            now = self._clock()
            due = checkpoint_due(
                size=head.size,
                last_size=last.size,
                last_at=last.at,
                now=now,
                every_entries=self.policy.every_entries,
                every=timedelta(seconds=self.policy.every_seconds),
                # A forced checkpoint (erasure, close, checkpoint_now) covers whatever is new.
                erasure=erasure or force,
            )
            if due:
                note = sign_checkpoint(
                    Checkpoint(self.origin, head.size, head.tree.root()), self._signer
                )
                await conn.execute(
                    cg_audit_checkpoints.insert().values(
                        chain=self.chain,
                        idx=last.count,
                        size=head.size,
                        created_at=format_ts(now),
                        note=note,
                    )
                )
        self._head = head
        self._covered = head.size if note is not None else last.size
        for item, result in done:
            if item.future is not None and not item.future.done():
                item.future.set_result(result)
        for item, error in rejected:
            if item.future is not None and not item.future.done():
                item.future.set_exception(error)
            else:
                log.error("audit entry %s not recorded: %s", item.action, error)
        if note is not None and self._sinks:
            self._sink_queue.put_nowait((self.chain, note))

    async def _entry(
        self,
        conn: AsyncConnection,
        head: _Head,
        item: _Pending,
        keys: dict[str, SubjectKey | None],
        erased: set[str],
    ) -> Entry | AuditError:
        seq, prev = head.size, head.head_hash
        if item.kind == "erasure":
            assert item.subject is not None
            return tombstone(
                chain=self.chain,
                seq=seq,
                prev_hash=prev,
                now=item.ts,
                actor=item.actor,
                subject=item.subject,
            )
        data = None
        if item.details is not None:
            assert item.subject is not None
            key = await self._key(conn, item.subject, keys, erased)
            if key is None:
                return SubjectErased(f"{item.subject} was erased; its details cannot be recorded")
            data = seal(
                key,
                item.details,
                chain=self.chain,
                seq=seq,
                subject=item.subject,
                nonce=self._rand(NONCE_BYTES),
            )
        return build_entry(
            chain=self.chain,
            seq=seq,
            prev_hash=prev,
            now=item.ts,
            actor=item.actor,
            action=item.action,
            subject=item.subject,
            data=data,
            public=item.public,
        )

    async def _key(
        self,
        conn: AsyncConnection,
        subject: str,
        keys: dict[str, SubjectKey | None],
        erased: set[str],
    ) -> SubjectKey | None:
        if subject in keys:
            return keys[subject]
        key = await get_subject_key(conn, self._master_key, subject)
        if (
            key is None
            and subject not in erased
            and not await _was_erased(conn, self.chain, subject)
        ):
            key = await create_subject_key(conn, self._master_key, subject, self._rand)
        keys[subject] = key
        return key

    async def _push_sinks(self) -> None:
        while (item := await self._sink_queue.get()) is not None:
            chain, note = item
            for sink in self._sinks:
                try:
                    await sink.push(chain, note)
                except Exception:  # a sink must never stop the others or the log
                    log.exception("audit checkpoint sink %r failed", sink)


# --- store state ------------------------------------------------------------------------------


async def _lock(conn: AsyncConnection) -> None:
    # SQLite holds the write lock since BEGIN IMMEDIATE (Store.write); PostgreSQL needs an
    # explicit lock released by COMMIT/ROLLBACK (PostgreSQL docs, "Advisory Lock Functions").
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK})


def _leaf(value: str, seq: int) -> bytes:
    try:
        leaf = bytes.fromhex(value)
    except ValueError:
        leaf = b""
    if len(leaf) != merkle.HASH_SIZE:
        # Tampered store: keep logging (checkpoints will not match; `audit verify` says where).
        log.error("audit entry seq %d has a corrupt leaf hash; run `consentgate audit verify`", seq)
        return bytes(merkle.HASH_SIZE)
    return leaf


async def _rebuild(conn: AsyncConnection, chain: str) -> _Head:
    """The chain state from every stored leaf hash (O(n) rows, O(log n) memory)."""
    t = cg_audit_entries.c
    head = _Head()
    result = await conn.stream(
        select(t.seq, t.hash, t.leaf_hash).where(t.chain == chain).order_by(t.seq)
    )
    async for row in result:
        if row.seq != head.size:
            log.error(
                "audit chain %s: seq %d follows %d; run `consentgate audit verify`",
                chain,
                row.seq,
                head.size - 1,
            )
        head.add(head.size, row.hash, _leaf(row.leaf_hash, row.seq))
    return head


async def _sync(conn: AsyncConnection, chain: str, known: _Head) -> _Head:
    """A copy of ``known`` brought up to the store's head (call under the lock)."""
    t = cg_audit_entries.c
    top = (
        await conn.execute(
            select(t.seq, t.hash).where(t.chain == chain).order_by(t.seq.desc()).limit(1)
        )
    ).first()
    stored = 0 if top is None else top.seq + 1
    if stored == known.size and (top is None or top.hash == known.head_hash):
        return copy.deepcopy(known)
    if stored <= known.size:
        message = "audit chain %s changed under this node (%d entries, %d known); reloading"
        log.error(message, chain, stored, known.size)
        return await _rebuild(conn, chain)
    head = copy.deepcopy(known)
    rows = await conn.execute(
        select(t.seq, t.prev_hash, t.hash, t.leaf_hash)
        .where(t.chain == chain, t.seq >= known.size)
        .order_by(t.seq)
    )
    for row in rows:
        if row.seq != head.size or row.prev_hash != head.head_hash:
            log.error("audit chain %s changed below seq %d; reloading it", chain, known.size)
            return await _rebuild(conn, chain)
        head.add(row.seq, row.hash, _leaf(row.leaf_hash, row.seq))
    return head


async def _last_checkpoint(conn: AsyncConnection, chain: str) -> _LastCheckpoint:
    t = cg_audit_checkpoints.c
    row = (
        await conn.execute(
            select(t.idx, t.size, t.created_at)
            .where(t.chain == chain)
            .order_by(t.idx.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return _LastCheckpoint(0, 0, None)
    try:
        at: datetime | None = parse_ts(row.created_at)
    except EnvelopeError:
        at = None
    return _LastCheckpoint(row.idx + 1, row.size, at)


async def _was_erased(conn: AsyncConnection, chain: str, subject: str) -> bool:
    t = cg_audit_entries.c
    found = await conn.scalar(
        select(t.seq)
        .where(t.chain == chain, t.subject == subject, t.action == ERASURE_ACTION)
        .limit(1)
    )
    return found is not None
