"""`openapi.yaml` against a real gateway: schemathesis generates requests from the
description (valid and invalid bodies, parameters, headers) and checks every answer: never a
5xx, and status codes, content types and JSON bodies as documented.

The gateway is the demo world's, with an events token and rate limits raised so the fuzzer
reaches the handlers instead of the limiter (the limits have their own tests in
test_isolation.py). Requests carry the gateway's own `Origin` (so consent posts pass the
cross-site check and reach the recording code) and the cookie of a visitor who made a choice
(so `my-data` and erasure reach the bundle and erasure code).

`CONSENTGATE_SCHEMATHESIS_EXAMPLES` (default 25 per operation) and
`CONSENTGATE_SCHEMATHESIS_SEED` (default fixed, so CI is reproducible) tune the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests import procs
from tests.demo_world import LONDON, DemoWorld, start_world
from tests.environment import needs
from tests.figures import Figures

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    needs(find_spec("schemathesis"), "schemathesis is in the dev extra (pip install -e '.[dev]')"),
]

SCHEMA = procs.REPO / "openapi.yaml"
TOKEN = "schemathesis-events-token-0123456789"
# Alone it takes ~10 s (~25 s under coverage); a run stuck past this is reported with what
# schemathesis printed so far.
TIMEOUT = 600
EXAMPLES = os.environ.get("CONSENTGATE_SCHEMATHESIS_EXAMPLES", "25")
SEED = os.environ.get("CONSENTGATE_SCHEMATHESIS_SEED", "20261123")
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)


def adjust(data: dict[str, Any]) -> None:
    data.setdefault("personalization", {})["events_token"] = TOKEN
    data.setdefault("consent", {})["rate_per_minute"] = 100_000
    data.setdefault("dsr", {})["rate_per_minute"] = 10_000
    data.setdefault("csp", {})["report_rate_per_minute"] = 100_000


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoWorld]:
    with start_world(tmp_path_factory.mktemp("openapi"), adjust=adjust) as running:
        yield running


def test_schema_is_openapi_3_and_covers_the_contract() -> None:
    schema = yaml.safe_load(SCHEMA.read_text())
    assert schema["openapi"].startswith("3.")
    paths = set(schema["paths"])
    # Contract: "HTTP, on the gateway's own address" (the console is HTML, not an API).
    assert paths == {
        "/.well-known/gpc.json",
        "/_privacy/consent",
        "/_privacy/preferences",
        "/_privacy/my-data",
        "/_privacy/my-data/delete",
        "/_privacy/events",
        "/_privacy/healthz",
        "/_privacy/readyz",
        "/_privacy/metrics",
        "/_privacy/csp-report",
    }
    consent = schema["paths"]["/_privacy/consent"]["post"]["requestBody"]["content"]
    assert set(consent) == {"application/json", "application/x-www-form-urlencoded"}


def test_schemathesis_finds_no_server_error(
    world: DemoWorld, tmp_path: Path, figures: Figures
) -> None:
    with httpx.Client(base_url=world.url, headers={"X-Forwarded-For": LONDON}) as visitor:
        chose = visitor.post(
            "/_privacy/consent", json={"action": "accept_all"}, headers={"Origin": world.url}
        )
        assert chose.status_code == 200
        cookie = visitor.cookies["cg_id"]
    report = tmp_path / "schemathesis.json"
    argv = [
        sys.executable, "-c", "from schemathesis.cli import schemathesis; schemathesis()",
        "run", str(SCHEMA), "--url", world.url, "--checks", CHECKS,
        "--max-examples", EXAMPLES, "--seed", SEED, "--workers", "2",
        "--continue-on-failure", "--request-timeout", "30",
        "--header", f"Origin: {world.url}",
        "--header", f"Authorization: Bearer {TOKEN}",
        "--header", f"Cookie: cg_id={cookie}",
        "--report", "json", "--report-json-path", str(report),
    ]  # fmt: skip
    # schemathesis is not our code: coverage's subprocess patch would trace it (3x slower).
    env = {k: v for k, v in procs.env({"NO_COLOR": "1"}).items() if not k.startswith("COVERAGE_")}
    runner = subprocess.Popen(
        argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        stdout, stderr = runner.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        runner.kill()
        stdout, stderr = runner.communicate()
        stderr += f"\n[schemathesis still running after {TIMEOUT} s: killed]"
    log = world.server.log()
    # A failure shows schemathesis' account and the gateway's traceback behind it, if any.
    errors = log.find(" ERROR ")
    output = stdout[-20000:] + stderr[-5000:] + (log[errors:] if errors >= 0 else "")
    assert runner.returncode == 0, output
    result = json.loads(report.read_text())
    assert result["complete"] and result["failures"] == [], output
    operations = result["operations"]
    assert operations["tested"] == operations["selected"] >= 10, operations
    generated = result["test_cases"]["generated"]
    assert generated > 0
    # Nothing behind the guard failed either (the guard turns an exception into a 503).
    assert "privacy route failed" not in log
    figures.add("schemathesis cases run", generated)
