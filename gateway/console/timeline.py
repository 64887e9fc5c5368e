"""A subject's timeline for the officer: consent choices, audit entries and requests in time
order, looked up by the customer's `subject_ref` (or the raw subject id of an audit entry).

A read-only I/O shell over `consent.store` and `audit.store` tables. Audit `data` stays
sealed: the timeline names what happened and who did it, not the sealed details.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import or_, select

from audit.subject_crypto import is_subject_id
from consent.store import cg_consent_records, cg_subjects
from gateway.console import audit_view
from gateway.console.request_queue import QueuedRequest
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


def _names(text: str) -> str:
    try:
        value = json.loads(text)
    except ValueError:
        return "?"
    return ", ".join(str(v) for v in value) if isinstance(value, list) and value else "none"


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
    store: Store, chain: str, subject: SubjectIds, requests: Sequence[QueuedRequest] = ()
) -> list[Event]:
    """Every event of `subject`, oldest first; `requests` are filtered by its reference."""
    events: list[Event] = []
    t = cg_consent_records.c
    async with store.engine.connect() as conn:
        rows = await conn.execute(
            select(t.ts, t.method, t.regime, t.granted, t.denied, t.gpc, t.policy_version)
            .where(t.subject_id == subject.id)
            .order_by(t.id)
            .limit(LIMIT)
        )
        for r in rows:
            gpc = " (GPC)" if r.gpc else ""
            events.append(
                Event(
                    rfc3339(r.ts),
                    f"consent via {r.method}",
                    f"under {r.regime}, policy {r.policy_version}{gpc}: "
                    f"granted {_names(r.granted)}; denied {_names(r.denied)}",
                )
            )
    query = audit_view.AuditQuery(subject=subject.id)
    page = await audit_view.page(store, chain, query, None, LIMIT)
    for entry in page.rows:
        events.append(Event(entry.ts[:19] + "Z", entry.action, f"audit entry #{entry.seq} by "
                            f"{entry.actor}"))  # fmt: skip
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
