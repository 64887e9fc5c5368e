"""`consentgate dsr export REF` / `dsr delete REF` (the officer's path) as the real CLI, next
to a running gateway, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.demo_world import DemoWorld
from tests.gateway.dsr_scenario import (
    assert_erased,
    browse_and_choose,
    check_bundle,
    client,
    run_cli,
    seed_profile,
    store_url_of,
)
from tests.gateway.dsr_world import STORES, start_dsr_world, start_dsr_world_on

pytestmark = pytest.mark.e2e


@pytest.fixture(params=STORES)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DemoWorld]:
    with start_dsr_world_on(request.param, tmp_path / "demo") as running:
        yield running


def test_officer_exports_then_erases_by_reference(world: DemoWorld) -> None:
    store_url = store_url_of(world)
    config = str(world.config)
    with client(world) as browser:
        visitor_id, ref = browse_and_choose(browser)
    visitor = seed_profile(world, store_url, visitor_id, ref, secrets.token_hex(6))

    # References are upper-case base32: one read out or typed in lower case is the same.
    assert ref.startswith("CG-") and ref != ref.lower()
    exported = run_cli("dsr", "export", "--config", config, f" {ref.lower()} ")
    assert exported.returncode == 0, exported.stderr
    bundle = json.loads(exported.stdout)
    assert bundle["subject_ref"] == ref
    check_bundle(bundle, visitor, world)
    assert bundle["audit"][-1]["actor"].startswith("cli")

    erased = run_cli("dsr", "delete", "--config", config, ref)
    assert erased.returncode == 0, erased.stderr
    again = run_cli("dsr", "delete", "--config", config, ref)
    assert again.returncode == 1 and "unknown subject" in again.stderr

    # The gateway, still running, no longer knows the browser.
    with client(world) as browser:
        browser.cookies.set("cg_id", visitor_id)
        assert browser.get("/_privacy/my-data").status_code == 404
    assert_erased(world, store_url, visitor)

    # The erasure is in the log (the tombstone) and the request log (two requests, done).
    entries = run_cli("audit", "export", "--config", config, "--format", "jsonl")
    actions = [json.loads(line)["action"] for line in entries.stdout.splitlines()]
    assert actions.count("dsr.delete") == 1 and actions.count("dsr.export") == 1


def test_unknown_reference_and_bad_config(tmp_path: Path) -> None:
    with start_dsr_world(tmp_path / "demo") as world:
        for action in ("export", "delete"):
            result = run_cli("dsr", action, "--config", str(world.config), "CG-AAAAAAAAAAAAAAAA")
            assert result.returncode == 1, result.stderr
            assert "unknown subject" in result.stderr
            assert result.stdout == ""
    missing = run_cli("dsr", "export", "--config", str(tmp_path / "nope.yaml"), "CG-X")
    assert missing.returncode == 2
