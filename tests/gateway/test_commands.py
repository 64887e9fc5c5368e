"""`consentgate check`, run as the real CLI (`python -m gateway check --config F`)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from gateway.wiring import load_config
from tests import procs
from tests.cli import consentgate

BROKEN = """\
version: 1
gateway:
  upstrem: http://127.0.0.1:8081
  port: 99999
  port: 1
catalog: missing.json
"""


def run_cli(*args: str, cwd: Path = procs.REPO) -> subprocess.CompletedProcess[str]:
    return consentgate(*args, cwd=cwd, timeout=60)


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
    assert result.stdout.splitlines()[-1].startswith("ok: policies.yaml (sha256 ")


NOTHING_BLOCKED = (
    "warning: no purpose lists any host or cookie, so nothing would be blocked: add the "
    "trackers' hosts and cookie patterns under purposes[] (`consentgate init` writes a starter "
    "config with the common ones)"
)


def test_check_warns_when_no_purpose_would_block_anything(tmp_path: Path) -> None:
    purposes = yaml.safe_load((procs.REPO / "policies.yaml").read_text())["purposes"]
    for purpose in purposes:
        purpose.pop("hosts", None)
        purpose.pop("cookies", None)
    config = tmp_path / "policies.yaml"
    config.write_text(
        "# no trackers listed\ngateway: {upstream: 'http://127.0.0.1:9'}\n"
        + yaml.safe_dump({"purposes": purposes}, allow_unicode=True)
    )
    result = run_cli("check", "--config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    first, last = result.stdout.splitlines()
    assert first == f"{config}:3: {NOTHING_BLOCKED}"  # the line of `purposes:`
    assert last.startswith(f"ok: {config} (sha256 ")


def test_check_warns_about_a_config_without_purposes_on_line_1(tmp_path: Path) -> None:
    config = tmp_path / "policies.yaml"
    config.write_text("gateway: {upstream: 'http://127.0.0.1:9'}\n")
    result = run_cli("check", "--config", str(config))
    assert result.returncode == 0
    assert result.stdout.splitlines()[0] == f"{config}:1: {NOTHING_BLOCKED}"


def test_check_names_the_closest_fideslang_data_uses(tmp_path: Path) -> None:
    text = (procs.REPO / "policies.yaml").read_text()
    assert text.count("data_uses: [analytics.reporting]") == 1
    config = tmp_path / "policies.yaml"
    config.write_text(
        text.replace("data_uses: [analytics.reporting]", "data_uses: [analytics.reportng]")
        .replace("[marketing.advertising, third_party_sharing]", "[marketing.advertizing]")
        .replace("catalog: gateway/demo/catalog.json", "")
        .replace("directory: rules", f"directory: {procs.REPO / 'rules'}")
    )
    lines = text.splitlines()
    analytics = next(n for n, t in enumerate(lines, 1) if "[analytics.reporting]" in t)
    gpc = next(n for n, t in enumerate(lines, 1) if t.strip().startswith("gpc_data_uses:"))
    result = run_cli("check", "--config", str(config))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{config}:{gpc}: policy.gpc_data_uses[0]: 'marketing.advertizing' is not a data use of "
        "the fideslang taxonomy; did you mean 'marketing.advertising' or "
        "'marketing.advertising.serving'?",
        f"{config}:{analytics}: purposes[1].data_uses[0]: 'analytics.reportng' is not a data "
        "use of the fideslang taxonomy; did you mean 'analytics.reporting' or "
        "'analytics.reporting.system'?",
    ]


def test_check_reports_two_mistakes_on_one_rule_line(tmp_path: Path) -> None:
    config = tmp_path / "policies.yaml"
    config.write_text(
        "gateway: {upstream: 'http://127.0.0.1:9'}\n"
        "personalization: {data_purposes: {location.region: none}}\n"
    )
    (tmp_path / "rules").mkdir()
    rule_file = tmp_path / "rules" / "hero.yaml"
    rule_file.write_text(
        "rules:\n"
        "  - id: uk-rain\n"
        "    slot: hero-banner\n"
        "    when: {geo.country: {$inn: [GB]}, device: {$eqq: mobile}, weather.condtion: rain}\n"
        "    then: {banner: {template: Rain}}\n"
        "  - id: two-keys\n"
        "    slot: hero-banner\n"
        "    priority: high\n"
        "    when: {geo.contry: GB}\n"
        "    then: {banner: {template: Hi}}\n"
    )
    result = run_cli("check", "--config", str(config))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{rule_file}:4: when: /geo.country/$inn: unknown operator '$inn'; "
        "did you mean '$in' or '$nin' or '$ini'?",
        f"{rule_file}:4: when: /device/$eqq: unknown operator '$eqq'; "
        "did you mean '$eq' or '$veq'?",
        f"{rule_file}:4: unknown attribute 'weather.condtion'; did you mean 'weather.condition' or "
        "'weather'?",
        f"{rule_file}:8: priority: Input should be a valid integer, unable to parse string as "
        "an integer (got 'high')",
        # The schema error above does not hide the condition's own mistake.
        f"{rule_file}:9: unknown attribute 'geo.contry'; did you mean 'geo.country' or 'geo.city'?",
    ]


def test_check_without_a_config_says_where_it_looked(tmp_path: Path) -> None:
    result = run_cli("check", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == (
        f"policies.yaml:0: config file not found; looked in ./policies.yaml "
        f"({tmp_path}/policies.yaml) and $CONSENTGATE_CONFIG (not set). Name one with "
        "--config FILE or $CONSENTGATE_CONFIG, or write a starter config with "
        "`consentgate init`\n"
    )


def test_check_names_a_missing_config_from_the_environment(tmp_path: Path) -> None:
    missing = tmp_path / "etc" / "consentgate.yaml"
    result = consentgate(
        "check",
        cwd=tmp_path,
        extra_env={"CONSENTGATE_CONFIG": str(missing), "PYTHONPATH": str(procs.REPO)},
        timeout=60,
    )
    assert result.returncode == 1
    assert f"$CONSENTGATE_CONFIG ({missing}: not found)" in result.stdout
    assert result.stdout.startswith(f"{missing}:0: config file not found; looked in ")


def test_check_finds_the_config_named_by_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "elsewhere.yaml"
    config.write_text("gateway: {upstream: 'http://127.0.0.1:9'}\n")
    work = tmp_path / "work"
    work.mkdir()
    result = consentgate(
        "check",
        cwd=work,
        extra_env={"CONSENTGATE_CONFIG": str(config), "PYTHONPATH": str(procs.REPO)},
        timeout=60,
    )
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines()[-1].startswith(f"ok: {config} (sha256 ")


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


def test_run_without_a_config_says_where_it_looked(tmp_path: Path) -> None:
    result = run_cli("run", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(
        f"policies.yaml:0: config file not found; looked in ./policies.yaml "
        f"({tmp_path}/policies.yaml) and $CONSENTGATE_CONFIG (not set). Name one with --config"
    )
