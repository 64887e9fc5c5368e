"""Building what the gateway runs on from its config: the config itself (with the rule schema
plugged in), the schema components, the geo database, the store, the consent store and the audit
log.

The app's lifespan calls these; so does `consentgate run` (to refuse a broken geo database before
it starts workers). The master key comes from `consent.master_key` and the audit log from
`audit.configured`, where `dsr.service` (which never imports `gateway`) builds them too.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from audit.configured import build_audit_log
from audit.log import AuditLog
from audit.store import AUDIT
from consent.master_key import load_master_key
from consent.store import CONSENT, ConsentStore
from dsr.requests_store import DSR
from dsr.service import DsrService, build_service
from gateway.console.auth import CONSOLE
from personalization_rules.geo import GeoDatabaseError, GeoReader
from personalization_rules.profile_store import PERSONALIZATION, ProfileStore
from personalization_rules.rules import check_rule_files
from policies.loader import LoadedConfig
from policies.loader import load_config as load_policies
from policies.models import Config, GeoSettings
from storage.schema import CORE, Component
from storage.store import Store, open_store

log = logging.getLogger("consentgate")


def load_config(path: Path, overrides: Mapping[str, object] | None = None) -> LoadedConfig:
    """Read and validate `path`, the rule files and the catalog it names (`ConfigInvalid`):
    `policies.loader` with `personalization_rules`' rule schema plugged in, so `check`, `run`
    and every command report the same errors."""
    return load_policies(path, overrides, check_rules=check_rule_files)


def components() -> tuple[Component, ...]:
    """Every schema component the gateway runs with, "core" first, then each before the ones
    whose keys point at it: what `open_store` migrates, what erasure sweeps and what the
    retention purge walks (`storage.schema.TableUse`)."""
    return (CORE, CONSENT, AUDIT, DSR, PERSONALIZATION, CONSOLE)


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
    store = await open_store(config.storage.url, components=components())
    try:
        consent = await ConsentStore.open(store, master_key)
        audit = build_audit_log(store, config.audit, master_key)
        await audit.start()
    except Exception:
        await store.close()
        raise
    return store, consent, audit


@contextlib.asynccontextmanager
async def standalone_dsr(config: Config) -> AsyncIterator[DsrService]:
    """A data-subject request service with its own store and audit log, for the command line."""
    master_key = load_master_key(config.keys.master_key_file)
    store, consent, audit = await open_stores(config, master_key)
    try:
        yield build_service(
            config, store, consent, audit, master_key, components(), [ProfileStore(store)]
        )
    finally:
        try:
            await audit.close()
        finally:
            await store.close()
