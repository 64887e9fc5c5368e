"""Retention: what expired goes, what is still relied on stays, one audit entry per run;
on SQLite and PostgreSQL, in process and through `consentgate retention purge`."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from consent.pseudonyms import new_visitor_id
from consent.state import ConsentRecord
from consent.store import ConsentStore, cg_consent_records
from dsr.requests_store import RequestsStore, cg_dsr_requests
from dsr.retention import PurgeCounts, cutoffs, purge
from dsr.service import deadline_policy
from gateway.wiring import components
from personalization_rules.profile import ShopEvent
from personalization_rules.profile_store import ProfileStore, cg_events, cg_profiles
from policies.models import DsrSettings, RetentionSettings
from storage.store import Store, open_store
from tests.audit.audit_stores import write_config
from tests.consent.sample import consent_record
from tests.gateway.dsr_scenario import run_cli

NOW = datetime.now(UTC).replace(microsecond=0)
OLD = NOW - timedelta(days=800)


def record(ts: datetime, granted: set[str]) -> ConsentRecord:
    denied = {"analytics", "marketing"} - granted
    return consent_record(ts, granted, denied, policy_version="v1", text_hash="ab" * 32)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (RetentionSettings(), (1825, 395, 395, 395, 730)),
        (RetentionSettings(events_days=1, consent_records_days=None), (None, 1, 395, 395, 730)),
    ],
)
def test_cutoffs(settings: RetentionSettings, expected: tuple[int | None, ...]) -> None:
    limits = cutoffs(settings, NOW)
    got = (
        limits.consent_records,
        limits.events,
        limits.profiles,
        limits.decisions,
        limits.dsr_requests,
    )
    assert got == tuple(None if d is None else NOW - timedelta(days=d) for d in expected)


async def seed(store: Store) -> tuple[str, str]:
    """Subject `old` (all of it expired), subject `new` (nothing expired)."""
    consent = await ConsentStore.open(store, bytes(32), os.urandom)
    profiles = ProfileStore(store)
    ids = []
    for when in (OLD, NOW):
        subject = await consent.create_subject(new_visitor_id(os.urandom), when)
        ids.append(subject.id)
        await consent.append(subject.id, record(when - timedelta(days=1), {"analytics"}))
        await consent.append(subject.id, record(when, set()))
        await profiles.record_events(subject.id, [ShopEvent("view", when, sku="SKU-1")])
    requests = RequestsStore(store, bytes(32), deadline_policy(DsrSettings()))
    done = await requests.receive("export", "CG-AAAAAAAAAAAAAAAA", "gdpr", "cli", OLD)
    await requests.complete(done.id, "cli", OLD)
    await requests.receive("delete", "CG-AAAAAAAAAAAAAAAA", "gdpr", "cli", OLD)  # still open
    return ids[0], ids[1]


async def counts(store: Store) -> dict[str, int]:
    async with store.engine.connect() as conn:
        return {
            table.name: int(await conn.scalar(select(func.count()).select_from(table)) or 0)
            for table in (cg_consent_records, cg_events, cg_profiles, cg_dsr_requests)
        }


async def _purge_in_process(url: str) -> None:
    store = await open_store(url)
    try:
        old, new = await seed(store)
        before = await counts(store)
        assert before == {
            "cg_consent_records": 4,
            "cg_events": 2,
            "cg_profiles": 2,
            "cg_dsr_requests": 2,
        }
        result = await purge(
            store, cutoffs(RetentionSettings(consent_records_days=30), NOW), components()
        )
        # The old subject's superseded record goes; its latest (in force) stays.
        assert result == PurgeCounts(consent_records=1, events=1, profiles=1, dsr_requests=1)
        assert await counts(store) == {
            "cg_consent_records": 3,
            "cg_events": 1,
            "cg_profiles": 1,
            "cg_dsr_requests": 1,
        }
        consent = await ConsentStore.open(store, bytes(32))
        assert len(await consent.history(old)) == 1 and len(await consent.history(new)) == 2
        again = await purge(
            store, cutoffs(RetentionSettings(consent_records_days=30), NOW), components()
        )
        assert again.total == 0
    finally:
        await store.close()


def test_purge_deletes_only_what_expired(store_url: str) -> None:
    asyncio.run(_purge_in_process(store_url))


async def _seed_only(url: str) -> None:
    store = await open_store(url)
    try:
        await seed(store)
    finally:
        await store.close()


@pytest.mark.e2e
def test_retention_purge_command(store_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, store_url)
    (tmp_path / "consentgate-master.key").write_text("A" * 43 + "=\n")  # 32 zero bytes
    asyncio.run(_seed_only(store_url))
    result = run_cli("retention", "purge", "--config", str(config))
    assert result.returncode == 0, result.stderr
    # For people by default: a total, then each category with the period that applied.
    lines = result.stdout.splitlines()
    assert lines[0] == "retention purge: 3 rows deleted"  # records are kept 5 years
    summary = {line.split(":")[0].strip(): line.split(":")[1].split() for line in lines[1:]}
    assert summary["shop events"] == ["1", "(older", "than", "395", "days)"]
    assert summary["completed data-subject requests"][0] == "1"
    assert summary["consent records"][0] == "0" and len(summary) == 6

    again = run_cli("retention", "purge", "--config", str(config), "--format", "json")
    assert again.returncode == 0, again.stderr
    output = json.loads(again.stdout)  # for scripts: one JSON object
    assert output == {
        "purged": dict.fromkeys(
            ("consent_records", "events", "exposures", "profiles", "decisions", "dsr_requests"), 0
        ),
        "total": 0,
    }

    verify = run_cli("audit", "verify", "--config", str(config))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    exported = run_cli("audit", "export", "--config", str(config), "--format", "jsonl")
    entries = [json.loads(line) for line in exported.stdout.splitlines()]
    purges = [e for e in entries if e["action"] == "retention.purged"]
    assert len(purges) == 2
    # Who ran it in `actor`; the counts (no one's personal data) in the public details.
    assert purges[0]["actor"].startswith("cli") and ";" not in purges[0]["actor"]
    assert purges[0]["public"]["events"] == 1 and purges[1]["public"]["events"] == 0
    assert purges[0]["public"]["dsr_requests"] == 1 and purges[0]["v"] == 2
    assert purges[0]["subject"] is None and purges[0]["data"] is None
