"""`consentgate init`, run as the real CLI (`python -m gateway init`), and `check` on its output."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from gateway.wiring import load_config
from tests import procs
from tests.gateway.test_commands import run_cli


def test_init_writes_a_starter_config_that_passes_check(tmp_path: Path) -> None:
    out = tmp_path / "shop" / "policies.yaml"
    out.parent.mkdir()
    result = run_cli("init", "--upstream", "https://shop.internal:8443/", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:2] == [
        f"wrote {out} (shop at https://shop.internal:8443)",
        "next:",
    ]
    assert f"consentgate check --config {out}" in result.stdout
    data = yaml.safe_load(out.read_text())
    assert data["gateway"]["upstream"] == "https://shop.internal:8443"
    assert data["storage"] == {"url": "sqlite+aiosqlite:///consentgate.db"}
    assert "rules" not in data  # no rules: the operator adds them later
    assert [p["id"] for p in data["purposes"]] == [
        "essential",
        "analytics",
        "marketing",
        "personalization",
    ]
    checked = run_cli("check", "--config", str(out))
    assert checked.returncode == 0, checked.stdout
    # No warning either: the starter config blocks the common trackers.
    assert checked.stdout == f"ok: {out} (sha256 {load_config(out).sha256})\n"
    # The database and key files land next to the config, wherever the command ran from.
    loaded = load_config(out).config
    assert loaded.storage.url == f"sqlite+aiosqlite:///{out.parent}/consentgate.db"
    assert loaded.keys.master_key_file == out.parent / "consentgate-master.key"
    assert loaded.audit.signing_key_file == out.parent / "audit-signing.key"


def test_init_explains_every_section_in_comments(tmp_path: Path) -> None:
    out = tmp_path / "policies.yaml"
    assert run_cli("init", "--out", str(out)).returncode == 0
    lines = out.read_text().splitlines()
    sections = [n for n, line in enumerate(lines) if re.match(r"[a-z_]+:", line)]
    assert len(sections) >= 10
    for n in sections:
        if lines[n].startswith("version:"):
            continue
        # Every top-level section has a comment right above it or right below its key.
        near = [lines[n - 1].strip(), lines[n + 1].strip()]
        assert any(text.startswith("#") for text in near), lines[n]
    # Each vendor's hosts are grouped under a comment naming it.
    assert "      # Google Analytics 4 (gtag.js) and Google Tag Manager" in lines
    assert "      # Meta (Facebook) pixel and social plugins" in lines


def test_init_defaults_to_policies_yaml_in_the_working_directory(tmp_path: Path) -> None:
    result = run_cli("init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = yaml.safe_load((tmp_path / "policies.yaml").read_text())
    assert data["gateway"]["upstream"] == "http://127.0.0.1:8081"
    assert "placeholder" in result.stdout  # says the upstream still needs setting
    assert run_cli("check", cwd=tmp_path).stdout.startswith("ok: policies.yaml (sha256 ")


def test_init_never_overwrites(tmp_path: Path) -> None:
    out = tmp_path / "policies.yaml"
    out.write_bytes(b"# mine\ngateway: {upstream: 'http://10.0.0.5'}\n")
    before = out.stat()
    result = run_cli("init", "--upstream", "http://127.0.0.1:9", "--out", str(out))
    assert result.returncode == 1
    assert result.stderr == f"{out}: exists; not overwritten (remove it or pass --out FILE)\n"
    assert result.stdout == ""
    assert out.read_bytes() == b"# mine\ngateway: {upstream: 'http://10.0.0.5'}\n"
    assert out.stat().st_mtime_ns == before.st_mtime_ns


def test_init_refuses_a_bad_upstream_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "policies.yaml"
    result = run_cli("init", "--upstream", "shop.example", "--out", str(out))
    assert result.returncode == 2
    assert result.stderr == (
        "consentgate init: --upstream 'shop.example': upstream must be an http:// or https:// "
        "URL with a host\n"
    )
    assert not out.exists()


def test_init_into_a_missing_folder_fails_cleanly(tmp_path: Path) -> None:
    out = tmp_path / "nope" / "policies.yaml"
    result = run_cli("init", "--out", str(out))
    assert result.returncode == 1
    assert result.stderr.startswith(f"{out}: cannot write: ")
    assert "Traceback" not in result.stderr


def test_the_example_config_is_not_touched_by_init() -> None:
    # Run from the repo root: ./policies.yaml exists there, so init must refuse.
    before = (procs.REPO / "policies.yaml").read_bytes()
    assert run_cli("init").returncode == 1
    assert (procs.REPO / "policies.yaml").read_bytes() == before
