"""`GET /_privacy/metrics` against the real demo world: Prometheus text that moves with traffic,
and a 403 for peers outside `gateway.metrics_allow`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.metrics import Registry
from tests.demo_world import LONDON, DemoWorld, start_world

pytestmark = pytest.mark.e2e

SAMPLE = re.compile(r"^([a-z_]+)(\{[^}]*\})? (\S+)$")


def parse(text: str) -> dict[str, float]:
    """`name{labels}` -> value, checking every line is a comment or a sample."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a text-format line: {line!r}"
        samples[match[1] + (match[2] or "")] = float(match[3])
    return samples


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoWorld]:
    with start_world(tmp_path_factory.mktemp("demo")) as started:
        yield started


def test_counters_move_with_traffic(world: DemoWorld) -> None:
    with httpx.Client(base_url=world.url, headers={"X-Forwarded-For": LONDON}) as visitor:
        before = parse(visitor.get("/_privacy/metrics").text)
        for _ in range(3):
            assert visitor.get("/").status_code == 200
        assert visitor.get("/no-such-page").status_code == 404
        chose = visitor.post("/_privacy/consent", json={"action": "accept_all"},
                             headers={"Origin": world.url})  # fmt: skip
        assert chose.status_code == 200
        scraped = visitor.get("/_privacy/metrics")
    assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    after = parse(scraped.text)

    def moved(name: str) -> float:
        return after.get(name, 0) - before.get(name, 0)

    assert moved('consentgate_requests_total{kind="proxied",status="2xx"}') == 3
    assert moved('consentgate_requests_total{kind="proxied",status="4xx"}') == 1
    assert moved('consentgate_requests_total{kind="privacy",status="2xx"}') >= 2
    given = 'consentgate_consent_choices_total{action="consent.given",method="api",regime="gdpr"}'
    assert moved(given) == 1, sorted(after)
    assert after["consentgate_store_up"] == 1
    assert moved("consentgate_audit_entries_written") >= 1


def _allow_elsewhere(data: dict[str, Any]) -> None:
    data["gateway"]["metrics_allow"] = ["192.0.2.0/24"]


def test_peers_outside_the_allow_list_get_403(tmp_path: Path) -> None:
    with start_world(tmp_path, adjust=_allow_elsewhere) as started:
        # X-Forwarded-For cannot talk its way in: the TCP peer (loopback) is what counts.
        answer = httpx.get(
            started.url + "/_privacy/metrics", headers={"X-Forwarded-For": "192.0.2.1"}
        )
    assert answer.status_code == 403
    assert "metrics_allow" in answer.text


def test_label_values_are_escaped() -> None:
    registry = Registry()
    registry.counter("x_total", "X.").inc((("v", 'a"b\\c\nd'),))
    assert 'x_total{v="a\\"b\\\\c\\nd"} 1' in registry.render()
