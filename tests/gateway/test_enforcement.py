"""Consent enforcement seen from the upstream and across a key rotation (real processes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from consent.state import ConsentState
from gateway.proxy.exchange import CsrfTokens, consent_header_value
from tests import procs
from tests.cli import succeeded

pytestmark = pytest.mark.e2e

DEMO_BASE = Path(__file__).resolve().parents[2] / "gateway" / "demo" / "policies.base.yaml"


def test_consent_header_is_an_rfc8941_dictionary() -> None:
    state = ConsentState(
        regime="gdpr",
        policy_version="1",
        source="default",
        expires_at=None,
        subject_ref=None,
        purposes={"essential": True, "analytics": False},
        choice_owed=True,
        gpc_honored=False,
    )
    expected = 'regime="gdpr", gpc=?0, essential, analytics=?0'
    assert consent_header_value(state, gpc=False) == expected
    assert consent_header_value(state, gpc=True).startswith('regime="gdpr", gpc, ')


NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
VICTIM, ATTACKER = "v" * 22, "a" * 22
HOME, AWAY = "198.51.100.7", "203.0.113.9"


# (minted for: action, visitor id, client, days ago) -> (checked as: action, visitor id, client)
@pytest.mark.parametrize(
    ("minted", "checked", "ok"),
    [
        (("consent", VICTIM, HOME, 0), ("consent", VICTIM, HOME), True),
        (("consent", VICTIM, HOME, 1), ("consent", VICTIM, HOME), True),  # yesterday's page
        (("consent", VICTIM, HOME, 2), ("consent", VICTIM, HOME), False),  # expired
        (("consent", VICTIM, HOME, 0), ("consent", VICTIM, AWAY), True),  # the cookie binds
        (("delete", VICTIM, HOME, 0), ("delete", VICTIM, HOME), True),
        # A token of no visitor, or of another, never vouches for a post with the victim's cookie.
        (("consent", None, AWAY, 0), ("consent", VICTIM, AWAY), False),
        (("consent", None, HOME, 0), ("consent", VICTIM, HOME), False),
        (("consent", ATTACKER, AWAY, 0), ("consent", VICTIM, AWAY), False),
        (("delete", None, HOME, 0), ("delete", VICTIM, HOME), False),
        (("delete", ATTACKER, HOME, 0), ("delete", VICTIM, HOME), False),
        # Bound to the action: the banner's token erases no one.
        (("consent", VICTIM, HOME, 0), ("delete", VICTIM, HOME), False),
        (("delete", VICTIM, HOME, 0), ("consent", VICTIM, HOME), False),
        # Without a cookie (a first gdpr banner) the network binds, and only for consent.
        (("consent", None, HOME, 0), ("consent", None, HOME), True),
        (("consent", None, "2001:db8::1", 0), ("consent", None, "2001:db8::2"), True),  # /64
        (("consent", None, AWAY, 0), ("consent", None, HOME), False),
        (("consent", VICTIM, HOME, 0), ("consent", None, HOME), False),
        (("delete", None, HOME, 0), ("delete", None, HOME), False),
    ],
)
def test_csrf_tokens_are_bound_to_the_visitor_and_action(
    minted: tuple[str, str | None, str, int], checked: tuple[str, str | None, str], ok: bool
) -> None:
    tokens = CsrfTokens(b"k" * 32)
    action, visitor_id, client, days = minted
    token = tokens.mint(action, visitor_id, client, NOW - timedelta(days=days))  # type: ignore[arg-type]
    action, visitor_id, client = checked
    assert tokens.check(token, action, visitor_id, client, NOW) is ok  # type: ignore[arg-type]


@pytest.mark.parametrize("token", [None, "", "0" * 32, "\u00e9", "\udcff"])
def test_csrf_check_refuses_junk(token: str | None) -> None:
    assert not CsrfTokens(b"k" * 32).check(token, "consent", None, HOME, NOW)


@pytest.fixture(scope="module")
def upstream() -> Iterator[procs.Server]:
    with procs.start_upstream() as server:
        yield server


@pytest.fixture(scope="module")
def config(upstream: procs.Server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("enforcement")
    path = procs.write_config(directory, upstream=upstream.url)
    data = yaml.safe_load(path.read_text())
    base = yaml.safe_load(DEMO_BASE.read_text(encoding="utf-8"))
    data["purposes"] = base["purposes"]
    data["policy"] = base["policy"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


@pytest.fixture(scope="module")
def gateway(config: Path) -> Iterator[procs.Server]:
    with procs.start_gateway(config) as server:
        yield server


def upstream_fields(answer: httpx.Response) -> list[tuple[str, str]]:
    return [(n.lower(), v) for n, v in answer.json()["headers"]]


def test_upstream_gets_exactly_one_consent_header(gateway: procs.Server) -> None:
    # A client-sent copy is dropped and a Connection-nominated one cannot remove ours.
    answer = httpx.get(
        gateway.url + "/echo",
        headers={"X-Consent-State": "analytics", "Connection": "X-Consent-State"},
    )
    sent = [v for n, v in upstream_fields(answer) if n == "x-consent-state"]
    # Unknown location (no geo database here) picks the strictest regime: fail closed.
    assert sent == [
        'regime="gdpr", gpc=?0, essential, analytics=?0, marketing=?0, personalization=?0'
    ]


def test_rotation_keeps_existing_visitors(gateway: procs.Server, config: Path) -> None:
    with httpx.Client(base_url=gateway.url, headers={"Origin": gateway.url}) as client:
        first = client.post("/_privacy/consent", json={"purposes": {"analytics": True}})
        assert first.status_code == 200
        ref = first.json()["subject_ref"]
        client.cookies.set("cg_id", first.cookies["cg_id"])
        assert "version 2" in succeeded("keys", "rotate", config=config)
        # The running gateway still has the old keyring: restart-free rotation is picked up
        # by a new process, so start one on the same store.
        with procs.start_gateway(_second(config)) as second:
            again = client.get(second.url + "/_privacy/consent").json()
        # The first node, still on the old keyring, finds the re-keyed visitor too (it
        # reloads the keyring when a lookup misses).
        first_node = client.get("/_privacy/consent").json()
    assert again["subject_ref"] == ref
    assert again["purposes"]["analytics"] is True
    assert first_node["subject_ref"] == ref
    # The rotation is in the audit log (version only, no key material) and the chain holds.
    exported = _cli(config, "audit", "export", "--format", "jsonl")
    rotations = [e for e in map(json.loads, exported.splitlines()) if e["action"] == "keys.rotated"]
    assert [(e["actor"], e["subject"], e["public"]) for e in rotations] == [
        ("cli", None, {"key_version": 2})
    ]
    _cli(config, "audit", "verify")


def _cli(config: Path, *args: str) -> str:
    return succeeded(*args, config=config)


def _second(config: Path) -> Path:
    data = yaml.safe_load(config.read_text())
    data["gateway"]["port"] = procs.free_port()
    path = config.with_name("second.yaml")
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path
