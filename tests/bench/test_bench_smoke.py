"""`python bench/run.py --smoke` still runs end to end, so CI keeps the benchmark working;
no figure is asserted (the benchmark is never a timed test)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests import procs
from tests.environment import needs

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    needs(
        shutil.which("nginx") and shutil.which("wrk"),
        "the benchmark needs nginx and wrk (apt-get install -y nginx-light wrk)",
    ),
]


def test_bench_smoke_prints_every_scenario() -> None:
    done = subprocess.run(
        [sys.executable, "bench/run.py", "--smoke"],
        cwd=procs.REPO,
        env=procs.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for scenario in ("(a)", "(b)", "(c)", "(d)", "(e)", "(f) 55 KB category", "(g) 55 KB category"):
        assert scenario in done.stdout
    header = next(line for line in done.stdout.splitlines() if line.startswith("scenario"))
    assert "naive python" in header and "vs naive" in header
    # The naive proxy's req/s stands on each throughput row, between nginx's and the gateway's.
    for label in ("(a)", "(b)", "(f)", "(g)"):
        row = next(line for line in done.stdout.splitlines() if line.startswith(label))
        assert row.count("req/s") == 3, row
    verdicts = [line for line in done.stdout.splitlines() if line.startswith(("met ", "MISSED "))]
    assert len(verdicts) == 6  # one verdict per target
