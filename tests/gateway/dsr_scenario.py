"""A visitor's life for the data-subject request tests: browse, choose, leave a profile; then
everything a test needs to check an export and scan the store after an erasure."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from audit.checkpoint import open_checkpoint
from audit.signing_key import read_verifier
from consent.master_key import load_master_key
from consent.store import ConsentStore
from dsr.requests import BUNDLE_KEYS, check_audit_item
from personalization_rules.profile import ShopEvent
from personalization_rules.profile_store import Observation, ProfileStore
from storage.store import open_store
from tests.cli import consentgate
from tests.demo_world import LONDON, DemoWorld
from tests.stores import SERVER


@dataclass
class Visitor:
    """What the test knows about the visitor it played."""

    visitor_id: str
    subject_ref: str
    subject_id: str
    pseudonym: str
    token: str  # unique to this visitor: in its profile values

    def needles(self) -> dict[str, bytes]:
        """Byte strings that must not survive an erasure anywhere in the store's files."""
        return {
            "visitor id (cookie)": self.visitor_id.encode(),
            "visitor pseudonym": self.pseudonym.encode(),
            "subject_ref": self.subject_ref.encode(),
            "customer pseudonym (profile)": f"cust-{self.token}".encode(),
            "sku (profile, events)": f"SKU-{self.token}".encode(),
            "order id (events)": f"ord-{self.token}".encode(),
            "rule id (decisions)": f"rule-{self.token}".encode(),
        }


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m gateway ARGS` from the repo root."""
    return consentgate(*args, timeout=180)


def client(world: DemoWorld, ip: str = LONDON) -> httpx.Client:
    """A same-origin browser from `ip` (the demo trusts loopback's X-Forwarded-For)."""
    return httpx.Client(
        base_url=world.url,
        headers={"X-Forwarded-For": ip, "Origin": world.url},
        timeout=60,
    )


def browse_and_choose(browser: httpx.Client) -> tuple[str, str]:
    """Accept all, then refuse marketing; returns (visitor id cookie, subject_ref)."""
    assert browser.get("/").status_code == 200
    answer = browser.post("/_privacy/consent", json={"action": "accept_all"})
    assert answer.status_code == 200, answer.text
    visitor_id = browser.cookies.get("cg_id")
    assert visitor_id
    answer = browser.post("/_privacy/consent", json={"purposes": {"marketing": False}})
    assert answer.status_code == 200, answer.text
    browser.get("/product/RW-001")
    ref = answer.json()["subject_ref"]
    assert ref
    return visitor_id, ref


async def _seed(world: DemoWorld, store_url: str, visitor_id: str, ref: str, token: str) -> Visitor:
    master_key = load_master_key(world.data_dir / "consentgate-master.key")
    store = await open_store(store_url)
    try:
        consent = await ConsentStore.open(store, master_key)
        subject = await consent.subject_by_ref(ref)
        assert subject is not None
        profiles = ProfileStore(store)
        now = datetime.now(UTC)
        sku = f"SKU-{token}"
        await profiles.record_events(
            subject.id,
            [
                ShopEvent("view", now, sku=sku, category="rainwear", country="GB"),
                ShopEvent(
                    "purchase",
                    now,
                    sku=sku,
                    order_value=42.5,
                    order_id=f"ord-{token}",
                    currency="GBP",
                ),
            ],
        )
        assert await profiles.set_customer(subject.id, f"cust-{token}", now)
        decision = (f"rule-{token}", frozenset({"personalization"}))
        await profiles.apply([Observation(subject.id, now, decisions=(decision,))])
        pseudonym = consent.keyring.pseudonym(visitor_id)
    finally:
        await store.close()
    return Visitor(visitor_id, ref, subject.id, pseudonym, token)


def seed_profile(
    world: DemoWorld, store_url: str, visitor_id: str, ref: str, token: str
) -> Visitor:
    """What personalization would have learned (written as `ProfileStore` writes it)."""
    return asyncio.run(_seed(world, store_url, visitor_id, ref, token))


def store_url_of(world: DemoWorld) -> str:
    import yaml

    data = yaml.safe_load(world.config.read_text(encoding="utf-8"))
    return str(data["storage"]["url"])


def check_bundle(bundle: Mapping[str, Any], visitor: Visitor, world: DemoWorld) -> None:
    """The export holds consent history with proof, profile, decisions, events and audit
    entries whose inclusion proofs verify against the log's signed checkpoint."""
    assert tuple(bundle) == BUNDLE_KEYS
    assert bundle["subject_ref"] == visitor.subject_ref
    consents = bundle["consents"]
    assert [sorted(c["denied"]) for c in consents] == [[], ["marketing"]]
    for c in consents:
        assert re.fullmatch(r"[0-9a-f]{64}", c["text_hash"])
        assert c["policy_version"] and c["method"] == "api" and c["regime"] == "gdpr"
        assert c["time"].endswith("Z")
    assert bundle["profile"]["facts"]["customer"] == f"cust-{visitor.token}"
    assert {e["type"] for e in bundle["events"]} == {"view", "purchase"}
    # The seeded events, plus the views the gateway itself recorded while the visitor browsed.
    purchases = {e["sku"] for e in bundle["events"] if e["type"] == "purchase"}
    assert purchases == {f"SKU-{visitor.token}"}
    assert f"SKU-{visitor.token}" in {e["sku"] for e in bundle["events"]}
    seeded = [d for d in bundle["decisions"] if d["rule"] == f"rule-{visitor.token}"]
    assert len(seeded) == 1 and seeded[0]["purposes"] == ["personalization"]

    items = bundle["audit"]
    actions = [i["action"] for i in items]
    assert actions[:2] == ["consent.given", "consent.withdrawn"], actions
    assert actions[-1] == "dsr.export"
    given = items[0]
    assert given["data_status"] == "decrypted"
    assert given["data"]["granted"] == ["analytics", "marketing", "personalization"]
    assert all(i["subject"] == visitor.subject_id for i in items)

    verifier = read_verifier(world.data_dir / "audit-signing.key.pub")
    notes = {i["proof"]["checkpoint"] for i in items}
    assert len(notes) == 1, "every proof is against the same, latest checkpoint"
    checkpoint = open_checkpoint(notes.pop(), [verifier])
    for item in items:
        assert item["proof_status"] == "included"
        assert item["proof"]["tree_size"] == checkpoint.size
        check_audit_item(item, checkpoint)  # raises ProofError if it does not hold
    # A changed record no longer proves inclusion.
    forged = {**items[0], "record": {**items[0]["record"], "actor": "someone-else"}}
    try:
        check_audit_item(forged, checkpoint)
    except ValueError:
        pass
    else:  # pragma: no cover - the assertion's failure message
        raise AssertionError("a forged record verified")


# --- after an erasure ---------------------------------------------------------------------------


def scan(files: list[Path], wanted: Mapping[str, bytes]) -> list[str]:
    """`label in path` for every needle found in a file."""
    leaks: list[str] = []
    for path in files:
        data = path.read_bytes()
        leaks.extend(f"{label} in {path}" for label, needle in wanted.items() if needle in data)
    return leaks


def sqlite_files(world: DemoWorld) -> list[Path]:
    """The SQLite store and its -wal/-shm files."""
    return [p for p in world.data_dir.glob("consentgate.db*") if p.is_file()]


async def _pg_data_files(store_url: str, wal: bool) -> list[Path]:
    database = re.sub(r".*/", "", store_url)
    conn = await asyncpg.connect(f"{SERVER}/postgres")
    try:
        # Dropped relation files are truncated at commit and unlinked at the next checkpoint.
        await conn.execute("CHECKPOINT")
        data_dir = Path(await conn.fetchval("SHOW data_directory"))
        oid = await conn.fetchval("SELECT oid FROM pg_database WHERE datname = $1", database)
    finally:
        await conn.close()
    folders = [data_dir / "base" / str(oid), *([data_dir / "pg_wal"] if wal else [])]
    return [p for folder in folders for p in folder.iterdir() if p.is_file()]


def pg_data_files(store_url: str, wal: bool = False) -> list[Path]:
    """The database's own data files (heap, index, TOAST) under base/<oid>; with `wal`, the
    server's write-ahead log too."""
    return asyncio.run(_pg_data_files(store_url, wal))


async def _rows_naming(store_url: str, subject_id: str) -> dict[str, int]:
    from sqlalchemy import text

    store = await open_store(store_url)
    try:
        counts = {}
        async with store.engine.connect() as conn:
            for table, column in (
                ("cg_subjects", "id"),
                ("cg_visitors", "subject_id"),
                ("cg_consent_records", "subject_id"),
                ("cg_subject_keys", "subject"),
                ("cg_profiles", "subject_id"),
                ("cg_events", "subject_id"),
                ("cg_decisions", "subject_id"),
                ("cg_exposures", "subject_id"),
            ):
                counts[table] = int(
                    await conn.scalar(
                        text(f"SELECT count(*) FROM {table} WHERE {column} = :s"), {"s": subject_id}
                    )
                    or 0
                )
            tombstones = await conn.scalar(
                text(
                    "SELECT count(*) FROM cg_audit_entries WHERE subject = :s AND action = "
                    "'dsr.delete'"
                ),
                {"s": subject_id},
            )
            counts["tombstones"] = int(tombstones or 0)
    finally:
        await store.close()
    return counts


def rows_naming(store_url: str, subject_id: str) -> dict[str, int]:
    """Rows per table that still name the subject id, and its tombstones in the chain."""
    return asyncio.run(_rows_naming(store_url, subject_id))


def assert_erased(world: DemoWorld, store_url: str, visitor: Visitor) -> None:
    """Contract "Erasure": nothing left names or links the person; the chain verifies."""
    export = run_cli("dsr", "export", "--config", str(world.config), visitor.subject_ref)
    assert export.returncode == 1, export.stdout + export.stderr
    assert "unknown subject" in export.stderr
    verify = run_cli("audit", "verify", "--config", str(world.config))
    assert verify.returncode == 0, verify.stdout + verify.stderr

    remaining = rows_naming(store_url, visitor.subject_id)
    assert remaining.pop("tombstones") == 1, remaining
    assert remaining == dict.fromkeys(remaining, 0), remaining
    # The random subject id stays in the audit chain only (its entries' data unreadable now);
    # everything that links it to the person is gone, byte for byte:
    if store_url.startswith("sqlite"):
        files = sqlite_files(world)
        assert any(p.name.endswith("-wal") for p in files), "the scan must include the WAL"
    else:
        files = pg_data_files(store_url)
    assert files, "found no store files to scan"
    leaks = scan([*files, world.server.log_path], visitor.needles())
    assert leaks == [], leaks
