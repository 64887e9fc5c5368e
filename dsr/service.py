"""Data-subject requests, the I/O shell: export a subject's bundle, erase a subject.

Wires ``dsr.requests`` (pure) to the stores: ``consent.store`` (subjects, consent history),
the personal-data sources (``personalization_rules.profile_store.ProfileStore`` implements
``SubjectDataSource``), the audit log and the request log (``dsr.requests_store``).

Export: record the request, append ``dsr.export`` durably, force a checkpoint
(``AuditLog.checkpoint_now``) so that EVERY entry of the subject, the export entry included,
is covered by the latest signed checkpoint, then assemble the bundle with an inclusion proof
per entry, and complete the request. Forcing costs one signature per export; exports are
rare, and a bundle whose proofs all verify at once beats one that says "pending".

Erasure (GDPR Art. 17 with crypto-shredding), in this order so a failure can be retried with
the same reference (the reference is removed last):

1. record the request;
2. ``AuditLog.erase_subject``: destroy the subject's audit key, append the ``dsr.delete``
   tombstone, sign a checkpoint covering it (the irreversible step comes first);
3. each ``SubjectDataSource.delete_subject`` (profile, events, decisions, exposures);
4. ``ConsentStore.delete_subject`` (subject, visitor links, consent records);
5. every table a schema component declares as erased (``storage.schema.erased``): the
   subject's rows go, so a table added later cannot be forgotten here;
6. complete the request;
7. ``compact``: deleted rows must leave no bytes behind. SQLite has ``secure_delete`` on
   (freed cells and pages are zeroed); REINDEX rebuilds the indexes keyed by identifiers
   (an interior b-tree page can keep a deleted key as a divider; the components declare
   which, ``TableUse.reindex``) and ``Store.checkpoint()`` truncates the WAL. PostgreSQL keeps
   dead tuples (and plain VACUUM leaves their bytes in the page), so the tables that held the
   subject (the erased ones) are rewritten with ``VACUUM FULL``
   (``dsr.vacuum_full_on_erase``, default on; a short ACCESS EXCLUSIVE lock per table),
   after waiting (bounded) for transactions that began before it: VACUUM FULL keeps every row
   an open snapshot may still see, so one older snapshot would carry the erased rows along.
   PostgreSQL's WAL segments and any backups still hold old rows until recycled or expired:
   the operator's WAL archive retention must not exceed the erasure deadline.

What stays: the audit entries (their ``data`` now unreadable), which name only the random
subject id; with the mapping gone nothing links it to a cookie or a reference.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from sqlalchemy import text

from audit import merkle
from audit.checkpoint import NoteError, NoteVerifier, open_checkpoint
from audit.log import AuditLog
from audit.store import (
    EntryFilter,
    Record,
    SubjectKeyError,
    iter_records,
    latest_note,
    leaf_hashes,
    subject_key,
)
from audit.subject_crypto import DataUnreadable, SealedData, open_sealed
from consent.pseudonyms import parse_subject_ref
from consent.state import ConsentRecord
from consent.store import ConsentStore, Subject
from dsr.queue import QueuedRequest
from dsr.requests import (
    ConsentProof,
    DeadlinePolicy,
    SignedHead,
    assemble_bundle,
    audit_item,
    inclusion_proofs,
)
from dsr.requests_store import RequestsStore
from policies.models import Config, DsrSettings
from storage.schema import Component, erased
from storage.store import Store

log = logging.getLogger("consentgate.dsr")

# How long an erasure waits for transactions older than it before rewriting the tables.
SNAPSHOT_WAIT_SECONDS = 10.0

Clock = Callable[[], datetime]
Via = Literal["self-service", "officer", "cli"]


class SubjectDataSource(Protocol):
    """Personal data kept outside consent (``ProfileStore`` implements it)."""

    async def export_subject(self, subject_id: str) -> dict[str, Any]:
        """``profile``, ``decisions`` and ``events`` parts of the bundle."""
        ...

    async def delete_subject(self, subject_id: str) -> None:
        """Erase everything this source holds about the subject."""
        ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


def cli_actor() -> str:
    """The audit actor of a command run by an operator: ``cli:<os user>``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry / no login name
        return "cli"
    clean = "".join(c for c in user if c.isprintable())[:100]
    return f"cli:{clean}" if clean else "cli"


def consent_proof(record: ConsentRecord) -> ConsentProof:
    """A stored consent record in the bundle's terms."""
    return ConsentProof(
        ts=record.ts,
        policy_version=record.policy_version,
        text_hash=record.text_hash,
        method=record.method,
        language=record.language,
        regime=record.regime,
        granted=record.granted,
        denied=record.denied,
        gpc=record.gpc,
        gpc_confirmed_override=record.gpc_confirmed_override,
        chosen_at=record.chosen_at,
    )


def merge_personal(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Several sources' exports as one: the first ``profile`` found, lists concatenated."""
    merged: dict[str, Any] = {"profile": None, "decisions": [], "events": []}
    for part in parts:
        if merged["profile"] is None:
            merged["profile"] = part.get("profile")
        merged["decisions"].extend(part.get("decisions") or [])
        merged["events"].extend(part.get("events") or [])
    return merged


@dataclass
class DsrService:
    """Export and erasure over one store (module docstring)."""

    store: Store
    consent: ConsentStore
    audit: AuditLog
    requests: RequestsStore
    master_key: bytes
    verifier: NoteVerifier
    settings: DsrSettings
    unknown_regime: str
    schema: Sequence[Component]  # the tables an erasure sweeps (`storage.schema.erased`)
    sources: Sequence[SubjectDataSource] = ()
    clock: Clock = _utcnow

    async def subject(self, subject_ref: str) -> Subject | None:
        """The subject a customer's reference names, or None. References are ``CG-`` and
        base32 (upper case only), so a reference read out or typed in lower case is the same
        one; anything else is looked up as given."""
        return await self.consent.subject_by_ref(
            parse_subject_ref(subject_ref) or subject_ref.strip()
        )

    async def regime_of(self, subject: Subject) -> str:
        """The regime of the subject's latest choice (the strictest one when it made none)."""
        latest = await self.consent.latest(subject.id)
        return latest.regime if latest is not None else self.unknown_regime

    # --- export ---------------------------------------------------------------------------

    async def export(
        self, subject: Subject, *, actor: str, via: Via, regime: str | None = None
    ) -> dict[str, Any]:
        """The subject's bundle (contract "Data-subject bundle"); recorded and audited."""
        regime = regime or await self.regime_of(subject)
        request = await self.requests.receive("export", subject.ref, regime, via, self.clock())
        await self.audit.append_durable(actor, "dsr.export", subject.id)
        await self.audit.checkpoint_now()
        history = await self.consent.history(subject.id)
        personal = merge_personal([await s.export_subject(subject.id) for s in self.sources])
        bundle = assemble_bundle(
            subject_ref=subject.ref,
            generated_at=self.clock(),
            consents=[consent_proof(r) for r in history],
            personal=personal,
            audit=await self._audit_items(subject.id),
        )
        await self.requests.complete(request.id, actor, self.clock())
        return bundle

    async def _audit_items(self, subject_id: str) -> list[dict[str, object]]:
        chain = self.audit.chain
        records = [
            r async for r in iter_records(self.store, chain, EntryFilter(subject=subject_id))
        ]
        head = await self._head()
        proofs: dict[int, dict[str, object]] = {}
        if head is not None and records:
            leaves = await leaf_hashes(self.store, chain, head.checkpoint.size)
            try:
                proofs = inclusion_proofs(leaves, head, [r["seq"] for r in records])
            except merkle.ProofError as exc:
                log.error("no inclusion proofs for an export (%s); run `audit verify`", exc)
        key = await self._key(subject_id)
        items = []
        for record in records:
            data, status = self._open(record, key, subject_id)
            items.append(audit_item(record, data, status, proofs.get(record["seq"])))
        return items

    async def _head(self) -> SignedHead | None:
        note = await latest_note(self.store, self.audit.chain)
        if note is None:
            return None
        try:
            checkpoint = open_checkpoint(note, [self.verifier], origin=self.audit.origin)
        except NoteError as exc:
            log.error("the latest checkpoint does not verify (%s); run `audit verify`", exc)
            return None
        return SignedHead(checkpoint, note)

    async def _key(self, subject_id: str) -> Any:
        try:
            return await subject_key(self.store, self.master_key, subject_id)
        except SubjectKeyError as exc:
            log.error("subject key unreadable: %s", exc)
            return None

    def _open(
        self, record: Record, key: Any, subject_id: str
    ) -> tuple[dict[str, object] | None, Literal["none", "decrypted", "erased", "unreadable"]]:
        raw = record["data"]
        if raw is None:
            return None, "none"
        if key is None:
            return None, "erased"
        try:
            sealed = SealedData.from_json(raw)
            data = open_sealed(
                key,
                sealed,
                chain=self.audit.chain,
                seq=record["seq"],
                subject=subject_id,
            )
        except (DataUnreadable, ValueError):
            return None, "unreadable"
        return data, "decrypted"

    # --- erasure --------------------------------------------------------------------------

    async def erase(
        self, subject: Subject, *, actor: str, via: Via, regime: str | None = None
    ) -> None:
        """Erase the subject everywhere (module docstring for the order and what stays)."""
        regime = regime or await self.regime_of(subject)
        request = await self.requests.receive("delete", subject.ref, regime, via, self.clock())
        await self.audit.erase_subject(subject.id, actor)
        for source in self.sources:
            await source.delete_subject(subject.id)
        await self.consent.delete_subject(subject.id)
        await erase_rows(self.store, self.schema, subject.id)
        await self.requests.complete(request.id, actor, self.clock())
        await compact(self.store, self.schema, vacuum_full=self.settings.vacuum_full_on_erase)


async def erase_rows(store: Store, schema: Sequence[Component], subject_id: str) -> None:
    """Delete the subject's rows from every table declared as erased (module docstring, 5)."""
    async with store.write() as conn:
        for use in erased(schema):
            assert use.subject is not None  # `erased` yields only tables naming a subject
            await conn.execute(use.table.delete().where(use.table.c[use.subject] == subject_id))


async def compact(store: Store, schema: Sequence[Component], *, vacuum_full: bool = True) -> None:
    """Make deleted rows' bytes leave the store's files (module docstring, step 7)."""
    if store.dialect == "sqlite":
        async with store.write() as conn:
            for use in erased(schema):
                if use.reindex:
                    await conn.execute(text(f"REINDEX {use.table.name}"))
        await store.checkpoint()
        return
    if not vacuum_full:
        return
    async with store.engine.connect() as conn:
        # VACUUM cannot run inside a transaction block (PostgreSQL docs, VACUUM).
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await _outlive_older_snapshots(auto)
        for use in erased(schema):
            exists = await auto.scalar(text("SELECT to_regclass(:t)"), {"t": use.table.name})
            if exists is not None:
                await auto.execute(text(f"VACUUM FULL {use.table.name}"))


async def _outlive_older_snapshots(conn: Any, limit: float = SNAPSHOT_WAIT_SECONDS) -> None:
    """Wait (at most `limit` seconds) until no other transaction in this database began before
    now. VACUUM FULL copies every row some open snapshot may still see ("recently dead"), so a
    transaction that began before the erasure committed (an autovacuum ANALYZE, another node's
    flush) would carry the erased rows into the rewritten files. Past the limit the compaction
    runs anyway and says so; the next erasure or autovacuum takes what is left."""
    since = await conn.scalar(text("SELECT clock_timestamp()"))
    deadline = time.monotonic() + limit
    while True:
        older = await conn.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND backend_xmin IS NOT NULL"
                " AND xact_start < :since"
            ),
            {"since": since},
        )
        if not older:
            return
        if time.monotonic() >= deadline:
            log.warning("erasure compaction: %d older transaction(s) still open", older)
            return
        await asyncio.sleep(0.05)


# --- the console's request queue ----------------------------------------------------------------


class ConsoleQueue:
    """``dsr.queue.RequestQueue`` over the request log. The reference is
    never stored, so ``subject_ref`` is None; the officer works from the request id."""

    def __init__(self, requests: RequestsStore) -> None:
        self.requests = requests

    async def list_requests(self, *, include_completed: bool) -> Sequence[QueuedRequest]:
        """Requests, open ones by deadline first."""
        return [
            QueuedRequest(
                id=r.id,
                kind=r.kind,
                subject_ref=None,
                regime=r.regime,
                status=r.status,
                received_at=r.received_at,
                deadline=r.due,
                completed_at=r.completed_at,
                completed_by=r.completed_by,
            )
            for r in await self.requests.list_all(include_completed=include_completed)
        ]

    async def complete(self, request_id: str, actor: str, now: datetime) -> bool:
        """Mark completed; False when unknown or already completed."""
        return await self.requests.complete(request_id, actor, now)


# --- wiring -------------------------------------------------------------------------------------


def deadline_policy(settings: DsrSettings) -> DeadlinePolicy:
    """The deadline policy the config describes."""
    return DeadlinePolicy.from_settings(
        settings.deadlines,
        settings.extensions,
        settings.default_deadline,
        settings.default_extension,
    )


def build_service(
    config: Config,
    store: Store,
    consent: ConsentStore,
    audit: AuditLog,
    master_key: bytes,
    schema: Sequence[Component],
    sources: Sequence[SubjectDataSource] = (),
) -> DsrService:
    """The service for a running gateway (the audit log started, the stores open)."""
    from audit.signing_key import load_or_create_signer

    signer = load_or_create_signer(config.audit.signing_key_file, config.audit.origin)
    return DsrService(
        store=store,
        consent=consent,
        audit=audit,
        requests=RequestsStore(store, master_key, deadline_policy(config.dsr)),
        master_key=master_key,
        verifier=signer.verifier(),
        settings=config.dsr,
        unknown_regime=config.jurisdiction.unknown,
        schema=schema,
        sources=sources,
    )
