"""`audit.verify_store`: the check `audit verify` and the console banner share, on a real store."""

from __future__ import annotations

import asyncio
from pathlib import Path

from audit.signing_key import public_key_path, read_verifier
from audit.verify_store import StoreReport, verify_store
from gateway.wiring import load_config
from storage.store import open_store
from tests.audit.audit_stores import populate, sql, write_config


def check(config_path: Path) -> StoreReport:
    settings = load_config(config_path).config.audit
    verifier = read_verifier(public_key_path(settings.signing_key_file))

    async def main() -> StoreReport:
        store = await open_store(load_config(config_path).config.storage.url)
        try:
            return await verify_store(store, settings, verifier)
        finally:
            await store.close()

    return asyncio.run(main())


def test_an_intact_chain_verifies_with_the_sinks_latest(store_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, store_url)
    populate(config, 12)
    checked = check(config)
    assert checked.report.ok and checked.witnessed
    # Checkpoints at sizes 1, 5 and 9 (every 4 entries) and 12 (signed on close).
    assert checked.message() == "ok: 12 entries, 4 checkpoints verified"


def test_without_a_sink_file_nothing_is_remembered(store_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, store_url, sink_file=None)
    populate(config, 8)
    checked = check(config)
    assert checked.report.ok and not checked.witnessed


def test_a_store_rolled_back_behind_the_sink_fails(store_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, store_url)
    populate(config, 12)
    sql(
        store_url,
        "DELETE FROM cg_audit_entries WHERE seq >= 9",
        "DELETE FROM cg_audit_checkpoints WHERE size > 9",
    )
    checked = check(config)
    assert not checked.report.ok
    assert checked.message().startswith("audit verify failed: entry seq 9"), checked.message()
    assert "rolled_back" in checked.message()
