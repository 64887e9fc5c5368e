"""The schema components the gateway runs with, named one by one: what `open_store` migrates,
what erasure sweeps and what the retention purge walks (`storage.schema.TableUse`)."""

from __future__ import annotations

from audit.requests_store import DSR
from audit.store import AUDIT
from consent.store import CONSENT
from gateway.console.auth import CONSOLE
from personalization_rules.profile_store import PERSONALIZATION
from storage.schema import CORE, Component


def components() -> tuple[Component, ...]:
    """Every component, "core" first, then each before the ones whose keys point at it."""
    return (CORE, CONSENT, AUDIT, DSR, PERSONALIZATION, CONSOLE)
