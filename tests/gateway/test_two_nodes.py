"""Two gateway processes in front of one demo shop, sharing one PostgreSQL store.

A consented subject gets the same `welcome-copy` arm from either node on every request, and
different subjects spread over the arms; a choice made through one node is honoured by the
other on the very next request, and the audit log both nodes wrote into holds each confirmed
choice once and verifies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tests import procs
from tests.cli import succeeded
from tests.demo_world import LONDON, start_world
from tests.figures import Figures
from tests.stores import postgres_database

pytestmark = pytest.mark.e2e

SUBJECTS = 20  # both arms at 50 %: all 20 in one arm has probability 2 * 2**-20
REQUESTS_PER_NODE = 3
ARMS = {"control": "New here? Welcome", "free-shipping": "Welcome! Shipping is on us"}


@dataclass(frozen=True)
class Nodes:
    first: str
    second: str
    config: Path  # node A's config; node B's differs only in its port


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nodes]:
    with postgres_database() as store_url:
        data_dir = tmp_path_factory.mktemp("demo")
        with start_world(data_dir, store_url=store_url) as first:
            # The second node: the same config (store, master key file, rules), its own port.
            data = yaml.safe_load(first.config.read_text(encoding="utf-8"))
            data["gateway"]["port"] = procs.free_port()
            config = data_dir / "policies-node-b.yaml"
            config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
            with procs.start_gateway(config) as second:
                yield Nodes(first.url, second.url, first.config)


@pytest.fixture(scope="module")
def nodes(cluster: Nodes) -> tuple[str, str]:
    return cluster.first, cluster.second


def arm(html: str) -> str:
    found = [name for name, headline in ARMS.items() if headline in html]
    assert len(found) == 1, "expected exactly one welcome-copy arm on the page"
    return found[0]


def test_variant_is_stable_per_subject_across_nodes(nodes: tuple[str, str]) -> None:
    first, second = nodes
    headers = {"X-Forwarded-For": LONDON, "Accept": "text/html"}
    seen: dict[str, int] = {}
    for i in range(SUBJECTS):
        # Subjects consent on alternating nodes; the other node must know them from the store.
        home, away = (first, second) if i % 2 == 0 else (second, first)
        with httpx.Client(headers=headers, timeout=10) as visitor:
            answer = visitor.post(
                f"{home}/_privacy/consent",
                json={"action": "accept_all"},
                headers={"Origin": home},
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["subject_ref"]
            arms = {
                arm(visitor.get(f"{node}/").text)
                for node in (home, away)
                for _ in range(REQUESTS_PER_NODE)
            }
        assert len(arms) == 1, f"subject {i} saw {sorted(arms)} across the two nodes"
        (chosen,) = arms
        seen[chosen] = seen.get(chosen, 0) + 1
    assert set(seen) == set(ARMS), f"all {SUBJECTS} subjects landed in {seen}"


def test_both_nodes_are_ready_on_the_store(nodes: tuple[str, str]) -> None:
    first, second = nodes
    assert first != second  # two ports, two processes
    for url in nodes:
        assert httpx.get(f"{url}/_privacy/readyz", timeout=10).json()["store"] is True


BANNER = 'id="consentgate-banner"'


def test_a_choice_on_one_node_is_honoured_by_the_other(cluster: Nodes, figures: Figures) -> None:
    a, b = cluster.first, cluster.second
    headers = {"X-Forwarded-For": LONDON, "Accept": "text/html"}
    choices: list[tuple[str, dict[str, object]]] = [
        (a, {"action": "reject_all"}),
        (b, {"purposes": {"analytics": True}}),
        (a, {"action": "accept_all"}),
        (b, {"action": "reject_all"}),
    ]
    with httpx.Client(headers=headers, timeout=10) as visitor:
        assert BANNER in visitor.get(f"{b}/").text  # gdpr, no choice yet: the banner is owed
        ref = None
        for node, body in choices:
            other = b if node == a else a
            made = visitor.post(f"{node}/_privacy/consent", json=body, headers={"Origin": node})
            assert made.status_code == 200, made.text
            ref = ref or made.json()["subject_ref"]
            # The very next request, on the other node, sees the same state.
            there = visitor.get(f"{other}/_privacy/consent").json()
            assert there["purposes"] == made.json()["purposes"], (node, body)
            assert there["subject_ref"] == ref
            assert BANNER not in visitor.get(f"{other}/").text
            figures.add("two-node consent choices honoured across nodes")
    assert ref is not None
    entries = [
        json.loads(line)
        for line in _cli(
            cluster.config, "audit", "export", "--subject", ref, "--format", "jsonl"
        ).splitlines()
    ]
    consent = [e["action"] for e in entries if e["action"].startswith("consent.")]
    # Each confirmed choice is in the log exactly once, whichever node took it.
    # (a first refusal, granting nothing, is `refused`; a widening is `given`)
    assert consent == ["consent.refused", "consent.given", "consent.given", "consent.withdrawn"]
    _cli(cluster.config, "audit", "verify")


def _cli(config: Path, *args: str) -> str:
    return succeeded(*args, config=config)
