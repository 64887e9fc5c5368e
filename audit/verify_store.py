"""Verify one stored chain: its entries and checkpoints, and the sink's latest checkpoint.

The I/O shell around the pure ``audit.verify.verify_log``, shared by ``audit verify`` and the
console's verify banner so both run the same check.
"""

from __future__ import annotations

from dataclasses import dataclass

from audit.checkpoint import NoteVerifier
from audit.sinks import latest_note
from audit.store import load_notes, load_records
from audit.verify import Report, verify_log
from policies.models import AuditSettings
from storage.store import Store


@dataclass(frozen=True)
class StoreReport:
    """``verify_log``'s report, and whether the sink's latest checkpoint was checked too."""

    report: Report
    witnessed: bool

    def message(self) -> str:
        """What ``audit verify`` prints for this report."""
        if self.report.problem is not None:
            return f"audit verify failed: {self.report.problem}"
        return f"ok: {self.report.entries} entries, {self.report.checkpoints} checkpoints verified"


async def verify_store(
    store: Store, settings: AuditSettings, verifier: NoteVerifier
) -> StoreReport:
    """Verify `settings.chain` in `store` against `verifier`.

    With a sink file, its latest checkpoint is remembered too: a store rolled back behind a
    checkpoint the sink already holds fails as ``rolled_back``.
    """
    remembered: list[str] = []
    if settings.sink_file is not None:
        note = latest_note(settings.sink_file, settings.chain)
        remembered = [note] if note is not None else []
    records = await load_records(store, settings.chain)
    notes = await load_notes(store, settings.chain)
    report = verify_log(
        records,
        notes,
        [verifier],
        origin=settings.origin,
        chain=settings.chain,
        remembered=remembered,
    )
    return StoreReport(report, witnessed=bool(remembered))
