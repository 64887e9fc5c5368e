"""`GET /_privacy/metrics` against the real demo world: Prometheus text that moves with traffic,
and a 403 for peers outside `gateway.metrics_allow`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.http.metrics import Registry
from tests import procs
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
    # The demo trusts loopback as its proxy: the visitor comes from London, the scraper from
    # the gateway's own host (no X-Forwarded-For).
    scraper = httpx.Client(base_url=world.url)
    with scraper, httpx.Client(base_url=world.url, headers={"X-Forwarded-For": LONDON}) as visitor:
        before = parse(scraper.get("/_privacy/metrics").text)
        for _ in range(3):
            assert visitor.get("/").status_code == 200
        assert visitor.get("/no-such-page").status_code == 404
        chose = visitor.post(
            "/_privacy/consent", json={"action": "accept_all"}, headers={"Origin": world.url}
        )
        assert chose.status_code == 200
        scraped = scraper.get("/_privacy/metrics")
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


@pytest.fixture(scope="module")
def upstream() -> Iterator[procs.Server]:
    with procs.start_upstream() as server:
        yield server


def _scrape(gateway: procs.Server, forwarded_for: str | None) -> httpx.Response:
    headers = {} if forwarded_for is None else {"X-Forwarded-For": forwarded_for}
    return httpx.get(gateway.url + "/_privacy/metrics", headers=headers, timeout=10)


# (X-Forwarded-For as the trusted proxy on loopback passed it on, allowed?) with the default
# metrics_allow (loopback): a TLS terminator on the same host must not make metrics public.
BEHIND_A_LOCAL_PROXY = [
    (None, True),  # the proxy's own host, or a scraper on it, asking directly
    ("203.0.113.9", False),  # a visitor of the shop through the terminator
    ("127.0.0.1, 203.0.113.9", False),  # the visitor typed loopback; the proxy appended them
    ("203.0.113.9, 127.0.0.1", False),  # a second local proxy: the rightmost untrusted entry
    ("::1", True),
    ("[2001:db8::1]:4711", False),
    ("unknown", True),  # an unusable chain: the peer counts (uvicorn's rule), and it is loopback
    (",", True),
]


def test_behind_a_trusted_local_proxy_the_forwarded_client_decides(
    upstream: procs.Server, tmp_path: Path
) -> None:
    config = procs.write_config(tmp_path, upstream=upstream.url, trusted_proxies=["127.0.0.1/32"])
    with procs.start_gateway(config) as gateway:
        answers = [(xff, _scrape(gateway, xff).status_code) for xff, _ in BEHIND_A_LOCAL_PROXY]
    assert answers == [(xff, 200 if ok else 403) for xff, ok in BEHIND_A_LOCAL_PROXY]


def test_a_scraper_elsewhere_is_allowed_through_the_proxy_only(
    upstream: procs.Server, tmp_path: Path
) -> None:
    config = procs.write_config(
        tmp_path,
        upstream=upstream.url,
        trusted_proxies=["127.0.0.1/32"],
        metrics_allow=["192.0.2.0/24"],
    )
    with procs.start_gateway(config) as gateway:
        assert _scrape(gateway, "192.0.2.1").status_code == 200
        refused = _scrape(gateway, None)  # the proxy itself is not the scraper
        assert _scrape(gateway, "192.0.2.1, 198.51.100.7").status_code == 403
    assert refused.status_code == 403
    assert "metrics_allow" in refused.text


def test_without_trust_a_forwarded_address_cannot_talk_its_way_in(
    upstream: procs.Server, tmp_path: Path
) -> None:
    config = procs.write_config(tmp_path, upstream=upstream.url, metrics_allow=["192.0.2.0/24"])
    with procs.start_gateway(config) as gateway:
        # The TCP peer (loopback, not a trusted proxy) is what counts.
        assert _scrape(gateway, "192.0.2.1").status_code == 403


def test_label_values_are_escaped() -> None:
    registry = Registry()
    registry.counter("x_total", "X.").inc((("v", 'a"b\\c\nd'),))
    assert 'x_total{v="a\\"b\\\\c\\nd"} 1' in registry.render()
