"""`consentgate check`, run as the real CLI (`python -m gateway check --config F`)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from policies.loader import load_config
from tests import procs

BROKEN = """\
version: 1
gateway:
  upstrem: http://127.0.0.1:8081
  port: 99999
  port: 1
catalog: missing.json
"""


def run_cli(*args: str, cwd: Path = procs.REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=cwd,
        env=procs.env(),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_check_accepts_the_example_config() -> None:
    result = run_cli("check", "--config", "policies.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    expected = load_config(procs.REPO / "policies.yaml").sha256
    assert result.stdout == f"ok: policies.yaml (sha256 {expected})\n"
    assert re.fullmatch(r"[0-9a-f]{64}", expected)


def test_check_prints_one_file_line_message_per_error(tmp_path: Path) -> None:
    config = tmp_path / "policies.yaml"
    config.write_text(BROKEN)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "hero.yaml").write_text("rules:\n  - slot: a\n  - oops\n")
    result = run_cli("check", "--config", str(config))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{config}:2: gateway: missing required key 'upstream'",
        f"{config}:3: gateway.upstrem: unknown key 'upstrem', did you mean 'upstream'?",
        f"{config}:5: duplicate key 'port' (first at line 4)",
        f"{config}:6: catalog: not found: {tmp_path}/missing.json",
        f"{tmp_path}/rules/hero.yaml:3: rules[1]: expected a mapping",
    ]


def test_check_missing_config(tmp_path: Path) -> None:
    result = run_cli("check", "--config", str(tmp_path / "nope.yaml"))
    assert result.returncode == 1
    assert result.stdout == f"{tmp_path}/nope.yaml:0: config file not found\n"


def test_check_defaults_to_policies_yaml_in_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "policies.yaml").write_text("gateway: {upstream: http://shop}\n")
    result = run_cli("check", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok: policies.yaml (sha256 ")


def test_run_refuses_an_invalid_config_with_the_same_lines(tmp_path: Path) -> None:
    config = tmp_path / "policies.yaml"
    config.write_text(BROKEN)
    checked = run_cli("check", "--config", str(config))
    started = run_cli("run", "--config", str(config))
    assert started.returncode == 1
    assert started.stderr.startswith(checked.stdout)
    assert "refusing to start" in started.stderr


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        (
            "--upstream",
            "ftp://shop",
            "--upstream must be an http:// or https:// URL with a host (got 'ftp://shop')",
        ),
        ("--workers", "0", "--workers: Input should be greater than or equal to 1 (got 0)"),
    ],
)
def test_run_names_an_invalid_override(tmp_path: Path, flag: str, value: str, message: str) -> None:
    config = tmp_path / "policies.yaml"
    config.write_text("gateway: {upstream: http://127.0.0.1:8081}\n")
    result = run_cli("run", "--config", str(config), flag, value)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == f"{config}:0: {message}"
