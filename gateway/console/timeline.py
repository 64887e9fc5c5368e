"""A subject's timeline for the officer: consent choices, audit entries and requests in time
order, looked up by the customer's `subject_ref` (or the raw subject id of an audit entry).

A read-only I/O shell over `consent.store` and `audit.store` tables. Audit `data` stays
sealed: the timeline names what happened and who did it, not the sealed details. A consent
line is named by `consent.choice_kind` from the records themselves (given, refused,
withdrawn, changed, gpc); an audit entry keeps the action it was written with (the chain is
immutable, so a first refusal audited as `consent.withdrawn` before `refused` existed reads
as written there, and the consent line next to it says what it was).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import or_, select

from audit.subject_crypto import is_subject_id
from consent.choice_kind import choice_kind, held_by_gpc
from consent.state import ConsentRecord
from consent.store import cg_consent_records, cg_subjects, record_of
from dsr.queue import QueuedRequest
from gateway.console import audit_view
from storage.store import Store

LIMIT = 500  # per source; a longer history is for `consentgate dsr export`


@dataclass(frozen=True)
class Event:
    """One line of the timeline."""

    ts: str  # RFC 3339 UTC, seconds
    kind: str
    text: str


@dataclass(frozen=True)
class SubjectIds:
    """The subject's random id and, unless it was erased, its customer-facing reference."""

    id: str
    ref: str | None


def rfc3339(ts: datetime) -> str:
    """`ts` as RFC 3339 UTC with seconds (naive values are taken as UTC)."""
    ts = ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def consent_event(
    previous: ConsentRecord | None, record: ConsentRecord, gpc_refused: frozenset[str]
) -> Event:
    """One consent record as a timeline line, e.g. `consent refused via banner`."""
    kind = choice_kind(previous, record, gpc_refused)
    held = held_by_gpc(record, gpc_refused)
    gpc = " (GPC)" if record.gpc else ""
    kept = f"; kept refused by GPC {_listed(held)}" if held else ""
    return Event(
        rfc3339(record.ts),
        f"consent {kind} via {record.method}",
        f"under {record.regime}, policy {record.policy_version}{gpc}: "
        f"granted {_listed(record.granted - held)}; denied {_listed(record.denied)}{kept}",
    )


def _listed(ids: frozenset[str]) -> str:
    return ", ".join(sorted(ids)) or "none"


async def find_subject(store: Store, ref: str) -> SubjectIds | None:
    """The subject a reference or a raw `sub_…` id names. An erased subject's raw id still
    resolves (its tombstone is in the log) but without a reference."""
    async with store.engine.connect() as conn:
        row = (
            await conn.execute(
                select(cg_subjects.c.id, cg_subjects.c.ref).where(
                    or_(cg_subjects.c.ref == ref, cg_subjects.c.id == ref)
                )
            )
        ).first()
    if row is not None:
        return SubjectIds(row.id, row.ref)
    return SubjectIds(ref, None) if is_subject_id(ref) else None


async def timeline(
    store: Store,
    chain: str,
    subject: SubjectIds,
    requests: Sequence[QueuedRequest] = (),
    gpc_refused: frozenset[str] = frozenset(),
) -> list[Event]:
    """Every event of `subject`, oldest first; `requests` are filtered by its reference;
    `gpc_refused` (`policies.purposes.gpc_purposes`) names grants a GPC signal can hold back."""
    events: list[Event] = []
    async with store.engine.connect() as conn:
        rows = await conn.execute(
            select(cg_consent_records)
            .where(cg_consent_records.c.subject_id == subject.id)
            .order_by(cg_consent_records.c.id)
            .limit(LIMIT)
        )
        previous: ConsentRecord | None = None
        for row in rows:
            record = record_of(row)
            events.append(consent_event(previous, record, gpc_refused))
            previous = record
    query = audit_view.AuditQuery(subject=subject.id)
    page = await audit_view.page(store, chain, query, None, LIMIT)
    for entry in page.rows:
        events.append(
            Event(entry.ts[:19] + "Z", entry.action, f"audit entry #{entry.seq} by {entry.actor}")
        )
    for item in requests:
        if subject.ref is not None and item.subject_ref == subject.ref:
            done = f" by {item.completed_by}" if item.completed_by else ""
            events.append(
                Event(
                    rfc3339(item.received_at),
                    f"request {item.kind}",
                    f"{item.id}, deadline {rfc3339(item.deadline)[:10]}, {item.status}{done}",
                )
            )
    events.sort(key=lambda e: e.ts)
    return events
