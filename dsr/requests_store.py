"""The data-subject request log: table ``cg_dsr_requests`` (schema component "dsr").

An I/O shell around ``dsr.requests``. One row per request: a random id (``dsr_<32 hex>``),
kind, ``ref_mac`` (HMAC-SHA256 of the customer's subject reference under a key derived
from the master key, ``dsr.requests.ref_mac``; the reference itself is never stored, so an
erasure leaves nothing here that names the person), regime, channel, received time,
deadline, status, extension, completion time and who completed it. Completed requests are
kept for ``retention.dsr_requests_days`` (24 months by default) and then purged.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Index, MetaData, String, Table, delete, select, update

from dsr.requests import (
    DeadlinePolicy,
    DsrRequest,
    Kind,
    RequestError,
    complete,
    extend,
    receive,
    ref_mac,
    request_log_key,
)
from storage.schema import Migration, Retention, create_tables, personal, register_component
from storage.store import Store

Random = Callable[[int], bytes]

metadata = MetaData()

cg_dsr_requests = Table(
    "cg_dsr_requests",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("ref_mac", String(64), nullable=False),
    Column("regime", String(32), nullable=False),
    Column("via", String(32), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("deadline", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False),
    Column("extended_until", DateTime(timezone=True), nullable=True),
    Column("completed_at", DateTime(timezone=True), nullable=True),
    Column("completed_by", String(200), nullable=True),
    Index("ix_cg_dsr_requests_ref", "ref_mac"),
    Index("ix_cg_dsr_requests_open", "status", "deadline"),
)

DSR = register_component(
    "dsr",
    [Migration("data-subject request log", create_tables(cg_dsr_requests))],
    [
        # Keyed by a MAC of the reference, not the subject id: the log outlives an erasure as
        # its proof; only completed requests expire.
        personal(
            cg_dsr_requests,
            None,
            Retention(
                "dsr_requests", "received_at", "dsr_requests", lambda t: t.c.status == "completed"
            ),
        ),
    ],
)


def _utc(ts: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _request(row: object) -> DsrRequest:
    r = row._mapping  # type: ignore[attr-defined]
    received, deadline = _utc(r["received_at"]), _utc(r["deadline"])
    assert received is not None and deadline is not None
    return DsrRequest(
        id=r["id"],
        kind=r["kind"],
        ref_mac=r["ref_mac"],
        regime=r["regime"],
        via=r["via"],
        received_at=received,
        deadline=deadline,
        status=r["status"],
        extended_until=_utc(r["extended_until"]),
        completed_at=_utc(r["completed_at"]),
        completed_by=r["completed_by"],
    )


def _row(request: DsrRequest) -> dict[str, object]:
    return {
        "id": request.id,
        "kind": request.kind,
        "ref_mac": request.ref_mac,
        "regime": request.regime,
        "via": request.via,
        "received_at": request.received_at,
        "deadline": request.deadline,
        "status": request.status,
        "extended_until": request.extended_until,
        "completed_at": request.completed_at,
        "completed_by": request.completed_by,
    }


class RequestsStore:
    """Receive, extend, complete, list and purge data-subject requests."""

    def __init__(
        self,
        store: Store,
        master_key: bytes,
        policy: DeadlinePolicy,
        rand: Random = os.urandom,
    ) -> None:
        self.store = store
        self.policy = policy
        self._key = request_log_key(master_key)
        self._rand = rand

    def mac(self, subject_ref: str) -> str:
        """The stored link for a subject reference (``dsr.requests.ref_mac``)."""
        return ref_mac(self._key, subject_ref)

    async def receive(
        self, kind: Kind, subject_ref: str, regime: str, via: str, now: datetime
    ) -> DsrRequest:
        """Record a new request (status ``received``, deadline by regime)."""
        request = receive(
            request_id="dsr_" + self._rand(16).hex(),
            kind=kind,
            ref_mac=self.mac(subject_ref),
            regime=regime,
            via=via,
            now=now,
            policy=self.policy,
        )
        async with self.store.write() as conn:
            await conn.execute(cg_dsr_requests.insert().values(**_row(request)))
        return request

    async def get(self, request_id: str) -> DsrRequest | None:
        """The request with this id, or None."""
        async with self.store.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(cg_dsr_requests).where(cg_dsr_requests.c.id == request_id)
                )
            ).first()
        return _request(row) if row is not None else None

    async def for_ref(self, subject_ref: str) -> list[DsrRequest]:
        """Every request made for this subject reference, oldest first."""
        async with self.store.engine.connect() as conn:
            rows = await conn.execute(
                select(cg_dsr_requests)
                .where(cg_dsr_requests.c.ref_mac == self.mac(subject_ref))
                .order_by(cg_dsr_requests.c.received_at, cg_dsr_requests.c.id)
            )
            return [_request(r) for r in rows]

    async def _change(
        self, request_id: str, change: Callable[[DsrRequest], DsrRequest]
    ) -> DsrRequest | None:
        async with self.store.write() as conn:
            row = (
                await conn.execute(
                    select(cg_dsr_requests).where(cg_dsr_requests.c.id == request_id)
                )
            ).first()
            if row is None:
                return None
            changed = change(_request(row))
            await conn.execute(
                update(cg_dsr_requests)
                .where(cg_dsr_requests.c.id == request_id)
                .values(**_row(changed))
            )
        return changed

    async def extend(self, request_id: str) -> DsrRequest | None:
        """Extend once (RequestError when not ``received``); None when unknown."""
        return await self._change(request_id, lambda r: extend(r, self.policy))

    async def complete(self, request_id: str, actor: str, now: datetime) -> bool:
        """Mark completed by ``actor``; False when unknown or already completed."""
        try:
            done = await self._change(request_id, lambda r: complete(r, now=now, actor=actor))
        except RequestError:
            return False
        return done is not None

    async def list_all(self, *, include_completed: bool) -> Sequence[DsrRequest]:
        """Requests, open ones first by the deadline in force, then completed ones newest
        first."""
        async with self.store.engine.connect() as conn:
            query = select(cg_dsr_requests)
            if not include_completed:
                query = query.where(cg_dsr_requests.c.status != "completed")
            requests = [_request(r) for r in await conn.execute(query)]
        open_ = sorted((r for r in requests if r.status != "completed"), key=lambda r: r.due)
        done = sorted(
            (r for r in requests if r.status == "completed"),
            key=lambda r: r.completed_at or r.received_at,
            reverse=True,
        )
        return [*open_, *done]

    async def purge(self, before: datetime) -> int:
        """Delete completed requests received before ``before``; returns how many."""
        async with self.store.write() as conn:
            result = await conn.execute(
                delete(cg_dsr_requests).where(
                    cg_dsr_requests.c.status == "completed",
                    cg_dsr_requests.c.received_at < before,
                )
            )
        return int(result.rowcount or 0)
