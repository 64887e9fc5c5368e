"""`consentgate experiments report` as a real process on a store the test fills."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from gateway.demo.world import DemoPaths, demo_config, prepare_data_dir
from personalization_rules.profile import ShopEvent
from personalization_rules.profile_store import ProfileStore
from tests.cli import consentgate
from tests.personalization_rules.subjects import store_with_subjects

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def report(config: Path) -> subprocess.CompletedProcess[str]:
    return consentgate("experiments", "report", config=config)


def demo(tmp_path: Path) -> Path:
    paths: DemoPaths = prepare_data_dir(tmp_path / "demo")
    config = paths.config
    config.write_text(yaml.safe_dump(demo_config(paths, 1, 2)), encoding="utf-8")
    return config


def test_report_per_variant(tmp_path: Path) -> None:
    config = demo(tmp_path)
    url = yaml.safe_load(config.read_text())["storage"]["url"]

    async def fill() -> None:
        store, _, ids = await store_with_subjects(url, 6)
        try:
            profiles = ProfileStore(store)
            arms = ["control"] * 3 + ["free-shipping"] * 3
            for subject, arm in zip(ids, arms, strict=True):
                await profiles.record_exposure("welcome-copy", arm, subject, NOW)
            later = NOW + timedelta(minutes=5)
            for i, value in ((0, 40.0), (3, 60.0), (4, 100.0)):
                event = ShopEvent("purchase", later, "RW-001", None, None, value, f"o{i}", "EUR")
                await profiles.record_event(ids[i], event)
        finally:
            await store.close()

    asyncio.run(fill())
    done = report(config)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "experiment welcome-copy"
    control = next(line for line in lines if line.strip().startswith("control"))
    treated = next(line for line in lines if line.strip().startswith("free-shipping"))
    # The control (the rule file's first variant) comes first.
    assert lines.index(control) < lines.index(treated)
    assert control.split()[1:4] == ["3", "1", "33.33%"] and "40.00 EUR" in control
    assert treated.split()[1:4] == ["3", "2", "66.67%"] and "80.00 EUR" in treated
    assert control.split()[-1] == "control"
    # 1/3 vs 2/3: pooled z = 0.8165, two-sided p = 0.4142 (experiment_stats' formula).
    assert float(treated.split()[-1]) == pytest.approx(0.4142, abs=1e-4)


def test_empty_store_reports_configured_experiments(tmp_path: Path) -> None:
    done = report(demo(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "experiment welcome-copy" in done.stdout
    assert "control" in done.stdout and "free-shipping" in done.stdout


def test_invalid_config_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "policies.yaml"
    bad.write_text("version: 1\ngateway: {}\n")
    done = report(bad)
    assert done.returncode == 2 and "upstream" in done.stderr
