"""Building what the gateway runs on from its config: the geo database, the store, the consent
store and the audit log.

The app's lifespan calls these; so does `consentgate run` (to refuse a broken geo database before
it starts workers). The master key comes from `consent.master_key` and the audit log from
`audit.configured`, where `dsr.service` (which never imports `gateway`) builds them too.
"""

from __future__ import annotations

import logging

from audit.configured import build_audit_log
from audit.log import AuditLog
from consent.store import ConsentStore
from personalization_rules.geo import GeoDatabaseError, GeoReader
from policies.models import Config, GeoSettings
from storage.store import Store, open_store

log = logging.getLogger("consentgate")


def open_geo(settings: GeoSettings) -> GeoReader | None:
    """The geo database, read into memory once; None when none is configured, or when
    it is missing/corrupt and the config marks geo optional (every visitor is then "unknown",
    which picks the strictest regime)."""
    if settings.database is None:
        return None
    try:
        return GeoReader(settings.database)
    except GeoDatabaseError as exc:
        if settings.optional:
            log.warning("geo database unusable, geo is unknown: %s", exc)
            return None
        raise


async def open_stores(config: Config, master_key: bytes) -> tuple[Store, ConsentStore, AuditLog]:
    """The store (migrated), the consent store on it and the started audit log.

    The store is closed again when the consent store or the audit log cannot start.
    """
    store = await open_store(config.storage.url)
    try:
        consent = await ConsentStore.open(store, master_key)
        audit = build_audit_log(store, config.audit, master_key)
        await audit.start()
    except Exception:
        await store.close()
        raise
    return store, consent, audit
