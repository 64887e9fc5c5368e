"""The gateway's audit log as its settings describe it: signing key, sinks, checkpoint policy.

The one place the running gateway, the commands and `dsr.service` build an `AuditLog` from
`AuditSettings`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from audit.log import AuditLog, CheckpointPolicy, Clock
from audit.signing_key import load_or_create_signer
from audit.sinks import CheckpointSink, FileSink, WebhookSink
from policies.models import AuditSettings
from storage.store import Store


def _utcnow() -> datetime:
    return datetime.now(UTC)


def build_audit_log(
    store: Store, settings: AuditSettings, master_key: bytes, *, clock: Clock | None = None
) -> AuditLog:
    """The gateway's `AuditLog` for `settings` (signing key created on first start).

    Call `await log.start()` after opening the store and `await log.close()` before closing it.
    """
    signer = load_or_create_signer(settings.signing_key_file, settings.origin)
    sinks: list[CheckpointSink] = []
    if settings.sink_file is not None:
        sinks.append(FileSink(settings.sink_file))
    if settings.webhook_url is not None:
        sinks.append(WebhookSink(settings.webhook_url))
    return AuditLog(
        store,
        chain=settings.chain,
        signer=signer,
        master_key=master_key,
        origin=settings.origin,
        policy=CheckpointPolicy(
            settings.checkpoint_every_entries, settings.checkpoint_every_seconds
        ),
        sinks=sinks,
        queue_size=settings.queue_size,
        batch_max=settings.batch_max,
        clock=clock or _utcnow,
    )
