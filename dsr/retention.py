"""Retention: delete what outlived its period (config ``retention:``), on a schedule and on
demand (`consentgate retention purge`).

Per data category (``policies.models.RetentionSettings``; None keeps it):

* consent records older than ``consent_records_days``, except each subject's latest (the
  choice still in force; GDPR Art. 7(1) needs its proof while it is relied on);
* events older than ``events_days`` (and experiment exposures with them);
* profiles not updated for ``profiles_days``;
* decisions last used more than ``decisions_days`` ago;
* completed data-subject requests received more than ``dsr_requests_days`` ago.

The audit chain is never purged: deleting entries would break its proof. Each run appends
ONE audit entry, ``retention.purged``, whose actor names who ran it and whose public
details are the counts per category. Deleted bytes leave the files
as after an erasure (``gateway.dsr_service.compact``, without the PostgreSQL rewrite: plain
deletes are reclaimed by autovacuum).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Table, delete, func, select

from audit.log import AuditLog
from consent.store import cg_consent_records
from dsr.requests_store import cg_dsr_requests
from personalization_rules.profile_store import cg_decisions, cg_events, cg_exposures, cg_profiles
from policies.models import RetentionSettings
from storage.store import Store

log = logging.getLogger("consentgate.retention")

ACTION = "retention.purged"
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Cutoffs:
    """Rows older than these instants go (None: keep that category)."""

    consent_records: datetime | None
    events: datetime | None
    profiles: datetime | None
    decisions: datetime | None
    dsr_requests: datetime | None


def cutoffs(settings: RetentionSettings, now: datetime) -> Cutoffs:
    """The cutoff instant of each category at ``now``."""

    def before(days: int | None) -> datetime | None:
        return None if days is None else now - timedelta(days=days)

    return Cutoffs(
        consent_records=before(settings.consent_records_days),
        events=before(settings.events_days),
        profiles=before(settings.profiles_days),
        decisions=before(settings.decisions_days),
        dsr_requests=before(settings.dsr_requests_days),
    )


@dataclass(frozen=True)
class PurgeCounts:
    """Rows deleted per category in one run."""

    consent_records: int = 0
    events: int = 0
    exposures: int = 0
    profiles: int = 0
    decisions: int = 0
    dsr_requests: int = 0

    @property
    def total(self) -> int:
        """Rows deleted in all."""
        return sum(asdict(self).values())


async def purge(store: Store, limits: Cutoffs) -> PurgeCounts:
    """Delete every expired row in one transaction; returns the counts."""
    counts: dict[str, int] = {}
    async with store.write() as conn:

        async def drop(name: str, table: Table, *where: object) -> None:
            result = await conn.execute(delete(table).where(*where))  # type: ignore[arg-type]
            counts[name] = int(result.rowcount or 0)

        if limits.consent_records is not None:
            t = cg_consent_records.c
            latest = select(func.max(t.id)).group_by(t.subject_id)
            await drop(
                "consent_records", cg_consent_records, t.ts < limits.consent_records,
                t.id.not_in(latest),
            )  # fmt: skip
        if limits.events is not None:
            await drop("events", cg_events, cg_events.c.ts < limits.events)
            await drop("exposures", cg_exposures, cg_exposures.c.first_ts < limits.events)
        if limits.profiles is not None:
            await drop("profiles", cg_profiles, cg_profiles.c.updated_at < limits.profiles)
        if limits.decisions is not None:
            await drop("decisions", cg_decisions, cg_decisions.c.last_ts < limits.decisions)
        if limits.dsr_requests is not None:
            r = cg_dsr_requests.c
            await drop(
                "dsr_requests", cg_dsr_requests, r.status == "completed",
                r.received_at < limits.dsr_requests,
            )  # fmt: skip
    if sum(counts.values()):
        await store.checkpoint()
    return PurgeCounts(**counts)


async def purge_and_record(
    store: Store, settings: RetentionSettings, audit: AuditLog, now: datetime, actor: str
) -> PurgeCounts:
    """One retention run: purge, then append the run's audit entry (durably)."""
    counts = await purge(store, cutoffs(settings, now))
    await audit.append_durable(actor, ACTION, public=asdict(counts))
    log.info("retention purge: %s", " ".join(f"{k}={v}" for k, v in asdict(counts).items()))
    return counts


class RetentionScheduler:
    """Runs a purge every ``retention.purge_every_hours`` inside the gateway.

    Several nodes may each run it; the deletes are idempotent, so the cost of that is only
    extra ``retention.purged`` entries. A failed run is logged and retried next period.
    """

    def __init__(
        self,
        store: Store,
        settings: RetentionSettings,
        audit: AuditLog,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.settings = settings
        self.audit = audit
        self.clock = clock
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the loop (first run after one period)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="retention")

    async def stop(self) -> None:
        """Stop the loop (a run in progress is cancelled; its transaction rolls back)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_once(self) -> PurgeCounts | None:
        """One purge; None when it failed (logged)."""
        try:
            return await purge_and_record(
                self.store, self.settings, self.audit, self.clock(), "system"
            )
        except Exception:  # keep the schedule alive; the next period retries
            log.exception("retention purge failed")
            return None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.purge_every_hours * 3600)
            await self.run_once()
