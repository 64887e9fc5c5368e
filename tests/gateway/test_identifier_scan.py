"""Raw identifiers never reach storage or logs in plaintext, only as keyed
pseudonyms.

Drives real traffic through a real gateway (consent choices, GPC, preference views), then scans
every byte of the store's files (SQLite: the database, -wal and -shm; PostgreSQL: the database's
own data files and the server's WAL) and the gateway's log for the raw client IPs, the raw visitor
ids (the cookie values), the user-agent strings and an e-mail address the visitors sent.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.demo_world import start_world
from tests.gateway.dsr_scenario import pg_data_files, scan
from tests.stores import postgres_database

pytestmark = pytest.mark.e2e


def random_ips() -> list[str]:
    # Inside the demo geo database's London, San Francisco and Bangkok /24 networks.
    # Host parts >= 100 so no raw address is a prefix of a truncated one ("a.b.c.0").
    return [
        f"81.2.69.{secrets.randbelow(150) + 100}",
        f"198.51.100.{secrets.randbelow(150) + 100}",
        f"203.0.113.{secrets.randbelow(150) + 100}",
    ]


def drive(url: str, ips: list[str], token: str) -> list[str]:
    """Browse, choose, and return the raw visitor ids the gateway handed out."""
    ids: list[str] = []
    for n, ip in enumerate(ips):
        headers = {
            "X-Forwarded-For": ip,
            "User-Agent": f"Mozilla/5.0 (cgtest-{token}-{n})",
            "Referer": f"{url}/?email=cgtest-{token}@example.com",
            "Origin": url,
        }
        if n == 1:
            headers["Sec-GPC"] = "1"
        with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
            client.get(f"/?email=cgtest-{token}@example.com")
            answer = client.post("/_privacy/consent", json={"action": "accept_all"})
            assert answer.status_code == 200, answer.text
            visitor_id = answer.cookies.get("cg_id") or client.cookies.get("cg_id")
            assert visitor_id
            ids.append(visitor_id)
            client.cookies.set("cg_id", visitor_id)
            client.post("/_privacy/consent", json={"purposes": {"marketing": False}})
            client.get("/_privacy/preferences")
            client.get("/product/RW-001")
    return ids


def needles(ips: list[str], ids: list[str], token: str) -> dict[str, bytes]:
    found = {f"ip {ip}": ip.encode() for ip in ips}
    found.update({f"visitor id {v}": v.encode() for v in ids})
    found["user agent"] = f"cgtest-{token}".encode()
    found["email"] = f"cgtest-{token}@example.com".encode()
    return found


@pytest.fixture
def token() -> str:
    return secrets.token_hex(6)


def test_sqlite_files_and_logs_hold_no_raw_identifiers(tmp_path: Path, token: str) -> None:
    ips = random_ips()
    with start_world(tmp_path / "demo") as world:
        ids = drive(world.url, ips, token)
        log = world.server.log_path
        files = [p for p in (tmp_path / "demo").glob("consentgate.db*") if p.is_file()]
        assert any(p.name.endswith("-wal") for p in files), "scan must include the WAL"
        leaks = scan([*files, log], needles(ips, ids, token))
    assert leaks == []


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


@pytest.mark.postgres
def test_postgresql_files_and_logs_hold_no_raw_identifiers(
    tmp_path: Path, token: str, pg_url: str
) -> None:
    ips = random_ips()
    with start_world(tmp_path / "demo", store_url=pg_url) as world:
        ids = drive(world.url, ips, token)
        log = world.server.log_path
        files = pg_data_files(pg_url, wal=True)
        assert files, "found no PostgreSQL files to scan"
        leaks = scan([*files, log], needles(ips, ids, token))
    assert leaks == []
