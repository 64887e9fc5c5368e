"""The compliance console end to end: users made with the real CLI, the console served by a
real process, every request over HTTP: sign-in and its limits, roles, the audit log and its
verification, statistics, subject timelines, exports and download links."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from audit.export import COLUMNS
from consent.store import cg_consent_records, cg_subjects
from gateway.console.download_links import DownloadLinks
from storage.store import open_store
from tests import procs
from tests.audit.audit_stores import MASTER_KEY, SUBJECT_A, SUBJECT_B, populate, sql
from tests.gateway.console.console_world import (
    BASE,
    PASSWORD,
    add_user,
    cli,
    client,
    csrf_of,
    login,
    start_console,
    write_config,
)
from tests.stores import sqlite_url

pytestmark = pytest.mark.e2e


class World:
    def __init__(self, config: Path, url: str, server: procs.Server) -> None:
        self.config, self.url, self.server = config, url, server

    def actions(self, actor: str) -> list[str]:
        rows = sql(
            self.url,
            ("SELECT action FROM cg_audit_entries WHERE actor = :a ORDER BY seq", {"a": actor}),
        )[0]
        return [action for (action,) in rows]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    directory = tmp_path_factory.mktemp("console")
    url = sqlite_url(directory)
    config = write_config(directory, url)
    populate(config, 12)  # config.loaded and consent.given entries
    add_user(config, "olivia", "officer")
    add_user(config, "oscar", "operator")
    add_user(config, "lena", "officer")
    with start_console(config) as server:
        yield World(config, url, server)


def test_add_user_refuses_bad_input(world: World) -> None:
    config = str(world.config)
    taken = cli(
        "admin",
        "add-user",
        "olivia",
        "--role",
        "officer",
        "--config",
        config,
        stdin=PASSWORD + "\n",
    )
    assert taken.returncode == 1 and "already exists" in taken.stderr
    short = cli(
        "admin", "add-user", "sam", "--role", "officer", "--config", config, stdin="short\n"
    )
    assert short.returncode == 1 and "at least 12" in short.stderr
    bad_name = cli(
        "admin",
        "add-user",
        "Bad Name",
        "--role",
        "officer",
        "--config",
        config,
        stdin=PASSWORD + "\n",
    )
    assert bad_name.returncode == 1
    role = cli("admin", "add-user", "sam", "--role", "root", "--config", config, stdin=PASSWORD)
    assert role.returncode == 2  # argparse refuses the role
    stored = sql(world.url, "SELECT name, role, password_hash FROM cg_console_users ORDER BY name")
    assert [(n, r) for n, r, _ in stored[0]] == [
        ("lena", "officer"),
        ("olivia", "officer"),
        ("oscar", "operator"),
    ]
    for _, _, password_hash in stored[0]:
        assert password_hash.startswith("scrypt$17$8$1$") and PASSWORD not in password_hash


def test_login_sets_a_strict_session_cookie_and_is_audited(world: World) -> None:
    with client(world.server, "10.0.0.1") as http:
        response = login(http, "olivia")
        assert response.status_code == 303
        assert response.headers["location"] == f"{BASE}/audit"
        session = next(c for c in response.headers.get_list("set-cookie") if "cg_admin=" in c)
        assert "HttpOnly" in session and "SameSite=Strict" in session
        assert f"Path={BASE}" in session and "Secure" not in session  # plain http here
        page = http.get(f"{BASE}/audit")
        assert page.status_code == 200 and 'id="cg-user">olivia<' in page.text
        assert page.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "admin.login" in world.actions("olivia")


def test_https_cookie_uses_host_prefix(world: World) -> None:
    headers = {"X-Forwarded-Proto": "https"}
    with client(world.server, "10.0.0.2") as http:
        form = http.get(f"{BASE}/login", headers=headers)
        pre = form.headers["set-cookie"]
        assert "Secure" in pre
        # The client speaks plain HTTP to the proxy's backend, so it would withhold a
        # Secure cookie: send it by hand, as the browser would over HTTPS.
        response = http.post(
            f"{BASE}/login",
            headers={**headers, "Cookie": pre.split(";")[0]},
            data={"csrf": csrf_of(form.text), "name": "olivia", "password": PASSWORD},
        )
        assert response.status_code == 303
        cookie = next(c for c in response.headers.get_list("set-cookie") if "cg_admin=" in c)
        assert cookie.startswith("__Host-cg_admin=")
        assert "Path=/;" in cookie and "Secure" in cookie and "Domain" not in cookie


def test_unauthenticated_pages_redirect_to_login(world: World) -> None:
    with client(world.server, "10.0.0.3") as http:
        response = http.get(f"{BASE}/requests")
        assert response.status_code == 303
        assert response.headers["location"] == f"{BASE}/login?next=%2F_privacy%2Fadmin%2Frequests"
        assert http.post(f"{BASE}/audit/verify", data={"csrf": "x"}).status_code == 403


def test_login_without_csrf_token_is_refused(world: World) -> None:
    with client(world.server, "10.0.0.4") as http:
        http.get(f"{BASE}/login")
        response = http.post(f"{BASE}/login", data={"name": "olivia", "password": PASSWORD})
        assert response.status_code == 403
        assert "cg_admin=" not in response.headers.get("set-cookie", "")


def test_failures_slow_the_guesser_and_never_lock_the_account(world: World) -> None:
    wrong = "not the password at all"
    with client(world.server, "10.0.0.5") as http:
        for _ in range(3):
            response = login(http, "lena", wrong)
            assert response.status_code == 401
            assert "Wrong user name or password" in response.text
        # The third failure from this address: the page says throttling is on, and for how
        # long; an attempt before then is refused (429, Retry-After) without checking anything.
        assert 'id="cg-login-throttle"' in response.text and "1 second." in response.text
        throttled = login(http, "lena")
        assert throttled.status_code == 429 and throttled.headers["retry-after"] == "1"
        assert "Sign-in is slowed down" in throttled.text
        time.sleep(1.2)
        response = login(http, "lena", wrong)
        assert response.status_code == 401 and "2 seconds." in response.text
        # An unknown name gets the same first answer.
        assert login(http, "nobody", wrong).status_code == 401
    # From another address the right password works at once: no account lock.
    with client(world.server, "10.0.0.8") as http:
        assert login(http, "lena").status_code == 303
    assert world.actions("lena") == ["admin.login_failed"] * 4 + ["admin.login"]
    assert world.actions("unknown-user") == ["admin.login_failed"]
    (locked,) = sql(world.url, "SELECT locked_until FROM cg_console_users WHERE name = 'lena'")[0]
    assert locked[0] is None
    # No password, right or wrong, is stored anywhere in the database.
    data = Path(world.url.removeprefix("sqlite+aiosqlite:///")).read_bytes()
    assert wrong.encode() not in data and PASSWORD.encode() not in data


def test_login_rate_limit_per_client(world: World) -> None:
    with client(world.server, "10.0.0.6") as http:
        # A new name each time: the per-(name, client) throttle is not what this exercises.
        statuses = [login(http, f"nobody{i}", "wrong password!").status_code for i in range(11)]
    assert statuses[:10] == [401] * 10 and statuses[10] == 429
    with client(world.server, "10.0.0.7") as http:  # another client is not throttled
        assert login(http, "oscar").status_code == 303


def test_operator_is_forbidden_officer_pages(world: World) -> None:
    with client(world.server, "10.0.0.8") as http:
        assert login(http, "oscar").status_code == 303
        for path in ("/requests", "/subjects?ref=x", "/audit/export.csv", "/audit?subject=x"):
            response = http.get(BASE + path)
            assert response.status_code == 403, path
            assert "Forbidden" in response.text
        page = http.get(f"{BASE}/audit")
        assert page.status_code == 200
        assert "/subjects?ref=" not in page.text and "sub_" not in page.text
        assert "(subject)" in page.text and "cg-export-csv" not in page.text
        assert http.get(f"{BASE}/stats").status_code == 200
        csrf = csrf_of(page.text)
        complete = http.post(f"{BASE}/requests/r1/complete", data={"csrf": csrf})
        assert complete.status_code == 403


def test_audit_log_filters_by_action(world: World) -> None:
    with client(world.server, "10.0.0.9") as http:
        assert login(http, "olivia").status_code == 303
        everything = http.get(f"{BASE}/audit")
        assert 'class="cg-action">consent.given<' in everything.text
        page = http.get(f"{BASE}/audit", params={"action": "config.loaded"})
        assert page.status_code == 200
        shown = re.findall(r'class="cg-action">([^<]+)<', page.text)
        # seq 0, 3, 6, 9 of the populated log, plus the gateway's own start entry.
        assert set(shown) == {"config.loaded"} and len(shown) == 5
        assert "(5 matching" in page.text
        bad = http.get(f"{BASE}/audit", params={"since": "yesterday"})
        assert bad.status_code == 400 and "Times must look like" in bad.text


def test_verify_now_needs_csrf_and_shows_result(world: World) -> None:
    with client(world.server, "10.0.0.10") as http:
        assert login(http, "olivia").status_code == 303
        page = http.get(f"{BASE}/audit")
        assert "Not verified from the console yet" in page.text or "Intact" in page.text
        assert http.post(f"{BASE}/audit/verify", data={"csrf": "0" * 64}).status_code == 403
        done = http.post(
            f"{BASE}/audit/verify", data={"csrf": csrf_of(page.text), "return_to": f"{BASE}/audit"}
        )
        assert done.status_code == 303
        after = http.get(f"{BASE}/audit")
        assert re.search(r"<strong>Intact</strong>: ok: \d+ entries", after.text), after.text
        assert "by olivia" in after.text


def test_logout_ends_the_session(world: World) -> None:
    with client(world.server, "10.0.0.11") as http:
        assert login(http, "olivia").status_code == 303
        page = http.get(f"{BASE}/audit")
        out = http.post(f"{BASE}/logout", data={"csrf": csrf_of(page.text)})
        assert out.status_code == 303
        assert http.get(f"{BASE}/audit").status_code == 303


def test_stats_without_choices_say_so_in_the_chart(world: World) -> None:
    # Runs before `seeded`: the store holds audit entries but no consent choice yet.
    with client(world.server, "10.0.0.18") as http:
        assert login(http, "oscar").status_code == 303
        page = http.get(f"{BASE}/stats", params={"days": "7"})
    assert page.status_code == 200
    assert 'id="cg-no-stats"' in page.text and 'id="cg-demo-history"' not in page.text
    svg = re.search(r"<svg xmlns.*?</svg>", page.text, re.S)
    assert svg is not None and "No data in this period" in svg.group(0)
    assert "<polyline" not in svg.group(0) and "<rect" not in svg.group(0)


async def _seed_consent(url: str) -> None:
    store = await open_store(url)
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        async with store.write() as conn:
            for subject, ref in ((SUBJECT_A, "ref-alpha"), (SUBJECT_B, "ref-beta")):
                await conn.execute(insert(cg_subjects).values(id=subject, ref=ref, created_at=now))
            for subject, granted, denied in (
                (SUBJECT_A, ["analytics"], ["marketing"]),
                (SUBJECT_B, [], ["analytics", "marketing"]),
            ):
                await conn.execute(
                    insert(cg_consent_records).values(
                        subject_id=subject,
                        ts=now,
                        policy_version="v1",
                        text_hash="0" * 64,
                        language="en",
                        method="banner",
                        regime="gdpr",
                        granted=json.dumps(granted),
                        denied=json.dumps(denied),
                        gpc=False,
                        gpc_override=False,
                        chosen_at=now,
                    )
                )
    finally:
        await store.close()


@pytest.fixture(scope="module")
def seeded(world: World) -> World:
    asyncio.run(_seed_consent(world.url))
    return world


def test_stats_chart_shows_opt_in_rates(seeded: World) -> None:
    with client(seeded.server, "10.0.0.12") as http:
        assert login(http, "oscar").status_code == 303  # operators see statistics
        page = http.get(f"{BASE}/stats", params={"days": "7"})
        assert page.status_code == 200
        assert "<script" not in page.text
        svg = re.search(r"<svg xmlns.*?</svg>", page.text, re.S)
        assert svg is not None and 'role="img"' in svg.group(0)
        assert 'data-purpose="analytics"' in svg.group(0)
        assert 'data-purpose="marketing"' in svg.group(0)
        # One day of data: labelled bars (50 % and 0 %), not lone dots.
        assert svg.group(0).count("<rect") == 2 and "<circle" not in svg.group(0)
        bars = re.findall(r'font-size="10">(\d+)%</text>', svg.group(0))
        assert sorted(bars) == ["0", "50"]
        cells = re.findall(
            r"<tr><td>(\w+)</td><td>[\d-]+</td><td>(\d+)</td><td>(\d+)</td>"
            r"<td>(\d+) %</td></tr>",
            page.text,
        )
        assert sorted(cells) == [("analytics", "1", "2", "50"), ("marketing", "0", "2", "0")]
        # One subject granted analytics, the other granted nothing: a refusal, not a withdrawal.
        kinds = dict(re.findall(r'<td data-kind="(\w+)">(\d+)</td>', page.text))
        assert kinds == {"given": "1", "refused": "1", "withdrawn": "0", "changed": "0"}
        # Subjects never appear on the statistics page.
        assert SUBJECT_A not in page.text and "ref-alpha" not in page.text


def test_subject_timeline_by_reference_is_audited(seeded: World) -> None:
    with client(seeded.server, "10.0.0.13") as http:
        assert login(http, "olivia").status_code == 303
        page = http.get(f"{BASE}/subjects", params={"ref": "ref-alpha"})
        assert page.status_code == 200
        items = re.findall(r"<li><time[^>]*>[^<]*</time> <strong>([^<]+)</strong>", page.text)
        assert items.count("consent.given") >= 1 and "consent given via banner" in items
        assert "granted analytics; denied marketing" in page.text
        unknown = http.get(f"{BASE}/subjects", params={"ref": "no-such-ref"})
        assert unknown.status_code == 404
    rows = sql(
        seeded.url,
        (
            "SELECT subject FROM cg_audit_entries WHERE actor = 'olivia' AND "
            "action = 'admin.subject_viewed'",
            {},
        ),
    )[0]
    assert [tuple(r) for r in rows] == [(SUBJECT_A,)]


def test_export_jsonl_of_a_subject(seeded: World) -> None:
    with client(seeded.server, "10.0.0.14") as http:
        assert login(http, "olivia").status_code == 303
        response = http.get(f"{BASE}/audit/export.jsonl", params={"subject": "ref-alpha"})
        assert response.status_code == 200
        assert response.headers["content-disposition"].startswith('attachment; filename="audit-')
        lines = [json.loads(line) for line in response.text.splitlines()]
        assert lines and all(line["subject"] == SUBJECT_A for line in lines)
        assert list(lines[0]) == list(COLUMNS)
    assert "admin.audit_exported" in seeded.actions("olivia")


def test_officer_download_link_opens_without_a_session_until_it_expires(seeded: World) -> None:
    with client(seeded.server, "10.0.0.15") as http:
        assert login(http, "olivia").status_code == 303
        page = http.get(f"{BASE}/subjects", params={"ref": "ref-alpha"})
        assert page.status_code == 200
        json_link = re.search(r'<a href="([^"]+)" id="cg-download-json"', page.text)
        html_link = re.search(r'<a href="([^"]+)" id="cg-download-html"', page.text)
        assert json_link and html_link, "no signed download link on the subject page"
    # Another machine, no console session: the link alone opens the bundle.
    with client(seeded.server, "10.0.0.16") as anonymous:
        bundle = anonymous.get(json_link[1])
        assert bundle.status_code == 200, bundle.text
        assert bundle.headers["cache-control"] == "no-store"
        data = bundle.json()
        assert data["subject_ref"] == "ref-alpha"
        assert {"consents", "profile", "decisions", "events", "audit"} <= set(data)
        readable = anonymous.get(html_link[1])
        assert readable.status_code == 200 and "ref-alpha" in readable.text
        assert "Erase my data" not in readable.text  # the officer's copy offers no erasure
        token = json_link[1].rsplit("/", 1)[1]
        flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
        tampered = anonymous.get(json_link[1].replace(token, flipped))
        assert tampered.status_code == 403
        old = DownloadLinks(MASTER_KEY).mint(
            "ref-alpha", "olivia", datetime.now(UTC) - timedelta(days=2)
        )
        expired = anonymous.get(json_link[1].replace(token, old))
        assert expired.status_code == 410 and "expired" in expired.text
        foreign = DownloadLinks(bytes(32)).mint("ref-alpha", "olivia", datetime.now(UTC))
        assert anonymous.get(json_link[1].replace(token, foreign)).status_code == 403
    # Each use is an audited export naming the officer.
    assert seeded.actions("officer:olivia").count("dsr.export") == 2


def test_erased_subject_answers_exactly_as_an_unknown_one(seeded: World) -> None:
    erased = "sub_" + "c3" * 16
    never = "sub_" + "d4" * 16

    async def seed() -> None:
        store = await open_store(seeded.url)
        now = datetime.now(UTC).replace(microsecond=0)
        try:
            async with store.write() as conn:
                await conn.execute(
                    insert(cg_subjects).values(id=erased, ref="ref-gamma", created_at=now)
                )
        finally:
            await store.close()

    asyncio.run(seed())
    gone = cli("dsr", "delete", "ref-gamma", "--config", str(seeded.config))
    assert gone.returncode == 0, gone.stderr

    def viewed() -> int:
        rows = sql(
            seeded.url,
            ("SELECT count(*) FROM cg_audit_entries WHERE action = 'admin.subject_viewed'", {}),
        )[0]
        return int(rows[0][0])

    before = viewed()
    with client(seeded.server, "10.0.0.17") as http:
        assert login(http, "olivia").status_code == 303
        answers = {}
        for ref in (erased, never, "ref-gamma", "ref-never"):
            page = http.get(f"{BASE}/subjects", params={"ref": ref})
            # The form echoes what was typed; everything else must be the same bytes.
            answers[ref] = (page.status_code, page.text.replace(ref, "REF"))
    assert answers[erased][0] == 404 and 'id="cg-unknown-subject"' in answers[erased][1]
    assert answers[erased] == answers[never] == answers["ref-gamma"] == answers["ref-never"]
    # Unknown references are not audited (nothing was looked at), so neither is the erased one.
    assert viewed() == before
