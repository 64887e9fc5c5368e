"""Helpers for tests of the audit log against real stores: configs, a populated log, raw SQL."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import text

from audit.configured import build_audit_log
from audit.envelope import Entry
from gateway.wiring import load_config
from storage.store import open_store

MASTER_KEY = bytes(range(32))
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
SUBJECT_A = "sub_" + "a1" * 16
SUBJECT_B = "sub_" + "b2" * 16


def write_config(directory: Path, store_url: str, **audit: Any) -> Path:
    """A minimal policies.yaml in `directory`: the store, a sink file, `audit` overrides."""
    section: dict[str, Any] = {
        "sink_file": "checkpoints.jsonl",
        "checkpoint_every_entries": 4,
        "checkpoint_every_seconds": 3600,
    }
    section.update(audit)
    config = {
        "version": 1,
        "gateway": {"upstream": "http://127.0.0.1:9"},
        "storage": {"url": store_url},
        "audit": section,
    }
    path = directory / "policies.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class StepClock:
    """A clock that moves one second forward on every call (deterministic `ts`)."""

    def __init__(self, start: datetime = T0) -> None:
        self._ticks = itertools.count()
        self.start = start

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=next(self._ticks))


@dataclass(frozen=True)
class Appended:
    entries: list[Entry]


def default_script(n: int) -> list[tuple[str, str | None, dict[str, object] | None]]:
    """n entries: every third a config load, the others consent choices of two subjects."""
    script: list[tuple[str, str | None, dict[str, object] | None]] = []
    for i in range(n):
        if i % 3 == 0:
            script.append(("config.loaded", None, None))
        else:
            subject = SUBJECT_A if i % 2 else SUBJECT_B
            script.append(("consent.given", subject, {"purposes": {"analytics": i % 2 == 0}}))
    return script


async def populate_async(
    config_path: Path,
    script: Sequence[tuple[str, str | None, dict[str, object] | None]],
    *,
    clock_start: datetime = T0,
) -> list[Entry]:
    """Append `script` durably, one entry per batch (so checkpoints follow the policy)."""
    config = load_config(config_path).config
    store = await open_store(config.storage.url)
    log = build_audit_log(store, config.audit, MASTER_KEY, clock=StepClock(clock_start))
    await log.start()
    entries = []
    try:
        for action, subject, details in script:
            actor = "system" if subject is None else "subject"
            entries.append(await log.append_durable(actor, action, subject, details))
    finally:
        await log.close()
        await store.close()
    return entries


def populate(config_path: Path, n: int = 12) -> list[Entry]:
    """A log of n entries (checkpoint every 4 with the default `write_config`)."""
    return asyncio.run(populate_async(config_path, default_script(n)))


async def _sql(url: str, statements: Sequence[tuple[str, Mapping[str, object]]]) -> list[Any]:
    store = await open_store(url, migrate=False)
    results: list[Any] = []
    try:
        async with store.write() as conn:
            for statement, params in statements:
                result = await conn.execute(text(statement), dict(params))
                results.append(result.all() if result.returns_rows else result.rowcount)
    finally:
        await store.close()
    return results


def sql(url: str, *statements: str | tuple[str, Mapping[str, object]]) -> list[Any]:
    """Run raw SQL against the store in one transaction (what an attacker with access does)."""
    normalized = [(s, {}) if isinstance(s, str) else s for s in statements]
    return asyncio.run(_sql(url, normalized))
