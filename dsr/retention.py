"""Retention: delete what outlived its period (config ``retention:``), on a schedule and on
demand (`consentgate retention purge`).

Per data category (``policies.models.RetentionSettings``; None keeps it), as each table's
owner declares it (``storage.schema.Retention``; the gateway passes the components in,
``gateway.wiring.components``):

* consent records older than ``consent_records_days``, except each subject's latest (the
  choice still in force; GDPR Art. 7(1) needs its proof while it is relied on);
* events older than ``events_days`` (and experiment exposures with them);
* profiles not updated for ``profiles_days``;
* decisions last used more than ``decisions_days`` ago;
* completed data-subject requests received more than ``dsr_requests_days`` ago.

The audit chain is never purged: deleting entries would break its proof. Each run appends
ONE audit entry, ``retention.purged``, whose actor names who ran it and whose public
details are the counts per category. Deleted bytes leave the files
as after an erasure (``dsr.service.compact``, without the PostgreSQL rewrite: plain
deletes are reclaimed by autovacuum).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from audit.log import AuditLog
from policies.models import RetentionSettings
from storage.schema import Component, table_uses
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

    def of(self, period: str) -> datetime | None:
        """The cutoff of a `storage.schema.Retention.period`; `KeyError` for an unknown one."""
        return {
            "consent_records": self.consent_records,
            "events": self.events,
            "profiles": self.profiles,
            "decisions": self.decisions,
            "dsr_requests": self.dsr_requests,
        }[period]


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


async def purge(store: Store, limits: Cutoffs, schema: Sequence[Component]) -> PurgeCounts:
    """Delete every expired row of every table in `schema` that declares a retention, in one
    transaction; returns the counts."""
    counts: dict[str, int] = {}
    async with store.write() as conn:
        for use in table_uses(schema):
            if use.retention is None:
                continue
            cutoff = limits.of(use.retention.period)
            if cutoff is not None:
                result = await conn.execute(use.retention.expired(use.table, cutoff))
                name = use.retention.counted_as
                counts[name] = counts.get(name, 0) + int(result.rowcount or 0)
    if sum(counts.values()):
        await store.checkpoint()
    return PurgeCounts(**counts)


async def purge_and_record(
    store: Store,
    schema: Sequence[Component],
    settings: RetentionSettings,
    audit: AuditLog,
    now: datetime,
    actor: str,
) -> PurgeCounts:
    """One retention run: purge, then append the run's audit entry (durably)."""
    counts = await purge(store, cutoffs(settings, now), schema)
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
        schema: Sequence[Component],
        settings: RetentionSettings,
        audit: AuditLog,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.schema = schema
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
                self.store, self.schema, self.settings, self.audit, self.clock(), "system"
            )
        except Exception:  # keep the schedule alive; the next period retries
            log.exception("retention purge failed")
            return None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.purge_every_hours * 3600)
            await self.run_once()
