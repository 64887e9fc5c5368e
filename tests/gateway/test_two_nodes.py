"""Two gateway processes in front of one demo shop, sharing one PostgreSQL store (issue 4,
"Done when": a stable variant per subject across two gateway processes on one PostgreSQL
store). A consented subject gets the same `welcome-copy` arm from either node on every
request, and different subjects spread over the arms."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import yaml

from tests import procs
from tests.demo_world import LONDON, start_world
from tests.stores import postgres_database

pytestmark = pytest.mark.e2e

SUBJECTS = 20  # both arms at 50 %: all 20 in one arm has probability 2 * 2**-20
REQUESTS_PER_NODE = 3
ARMS = {"control": "New here? Welcome", "free-shipping": "Welcome! Shipping is on us"}


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    with postgres_database() as store_url:
        data_dir = tmp_path_factory.mktemp("demo")
        with start_world(data_dir, store_url=store_url) as first:
            # The second node: the same config (store, master key file, rules), its own port.
            data = yaml.safe_load(first.config.read_text(encoding="utf-8"))
            data["gateway"]["port"] = procs.free_port()
            config = data_dir / "policies-node-b.yaml"
            config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
            with procs.start_gateway(config) as second:
                yield first.url, second.url


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
                f"{home}/_privacy/consent", json={"action": "accept_all"},
                headers={"Origin": home},
            )  # fmt: skip
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
