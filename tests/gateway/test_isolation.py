"""Isolation and access, end to end on the real demo world.

Four visitors with different consent states, places and profiles are interleaved over
`CONSENTGATE_ISOLATION_REQUESTS` (default 1,000) requests at most `CONCURRENCY` at a time; every
answer must carry only its own visitor's consent state (banner, trackers, state JSON), slots
and recommendations, and be marked private for shared caches. Then: the self-service endpoints
act only on the requesting visitor whatever the request names; the console and the events
endpoint refuse anyone without the right credentials.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.cli import succeeded
from tests.demo_world import LONDON, SAN_FRANCISCO, DemoWorld, start_world
from tests.figures import Figures

pytestmark = pytest.mark.e2e

REQUESTS = int(os.environ.get("CONSENTGATE_ISOLATION_REQUESTS", "1000"))
CONCURRENCY = 50
BANNER = 'id="consentgate-banner"'
PERSONAL_HEROES = ("hero-new", "hero-returning", "hero-engaged", "hero-customer")
# The shop's own hero content (home, product page), left in place when no rule fills the slot.
DEFAULT_HEROES = ("Gear for every weather", "Free returns within 30 days")
PASSWORD = "correct horse battery staple"
ADMIN = "/_privacy/admin"
EVENTS_TOKEN = "isolation-events-token-0123456789"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoWorld]:
    def adjust(data: dict[str, Any]) -> None:
        data.setdefault("personalization", {})["events_token"] = EVENTS_TOKEN

    with start_world(tmp_path_factory.mktemp("isolation"), adjust=adjust) as running:
        yield running


def active(html: str, host: str) -> bool:
    """A live `src` for `host` (not the inert `data-src` prior blocking leaves)."""
    return re.search(rf'(?<![\w-])src="https://{re.escape(host)}', html) is not None


def blocked(html: str, host: str) -> bool:
    return re.search(rf'data-src="https://{re.escape(host)}', html) is not None


def hero(html: str) -> str:
    start = html.find('data-slot="hero-banner"')
    assert start != -1, "no hero-banner slot"
    return html[start : html.find("</section>", start)]


@dataclass
class Visitor:
    """One visitor: where from, their own cookie, and what each answer must show."""

    name: str
    ip: str
    headers: dict[str, str]
    purposes: dict[str, bool]
    source: str
    check_page: Callable[[str], None]
    cookie: str | None = None
    subject_ref: str | None = None
    answers: int = 0
    problems: list[str] = field(default_factory=list)


def check_accepted(html: str) -> None:
    assert BANNER not in html
    assert active(html, "static.hotjar.com") and active(html, "connect.facebook.net")
    assert 'data-consentgate="blocked"' not in html
    assert any(h in hero(html) for h in PERSONAL_HEROES), hero(html)
    assert "Made for the rain" in html


def check_rejected(html: str) -> None:
    assert BANNER not in html
    assert blocked(html, "static.hotjar.com") and blocked(html, "connect.facebook.net")
    assert not active(html, "static.hotjar.com") and not active(html, "connect.facebook.net")
    assert any(text in hero(html) for text in DEFAULT_HEROES), hero(html)
    assert not any(h in html for h in (*PERSONAL_HEROES, "hero-same-day"))
    assert "Made for the rain" in html


def check_gpc(html: str) -> None:
    # us-optout with Sec-GPC: 1: analytics stays on, sale/sharing (marketing) is off.
    assert BANNER not in html
    assert active(html, "static.hotjar.com") and blocked(html, "connect.facebook.net")
    assert not active(html, "connect.facebook.net")
    assert "hero-same-day" in hero(html) and "San Francisco" in hero(html)
    assert "Made for the rain" not in html


def check_undecided(html: str) -> None:
    assert BANNER in html
    assert blocked(html, "static.hotjar.com") and not active(html, "static.hotjar.com")
    assert not active(html, "connect.facebook.net")
    assert any(text in hero(html) for text in DEFAULT_HEROES), hero(html)
    assert "Made for the rain" in html


def visitors() -> list[Visitor]:
    off = {"essential": True, "analytics": False, "marketing": False, "personalization": False}
    return [
        Visitor("accepted", LONDON, {}, dict.fromkeys(off, True), "api", check_accepted),
        Visitor("rejected", "81.2.69.161", {}, off, "api", check_rejected),
        Visitor(
            "gpc",
            SAN_FRANCISCO,
            {"Sec-GPC": "1"},
            {**off, "analytics": True, "personalization": True},
            "gpc",
            check_gpc,
        ),
        Visitor("undecided", "81.2.69.162", {}, off, "default", check_undecided),
    ]


def client(world: DemoWorld, v: Visitor) -> httpx.AsyncClient:
    headers = {"X-Forwarded-For": v.ip, "Accept": "text/html", **v.headers}
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    return httpx.AsyncClient(base_url=world.url, headers=headers, timeout=60, limits=limits)


async def prepare(world: DemoWorld, v: Visitor, http: httpx.AsyncClient) -> None:
    """Make each visitor's choice (or none) and learn their own cookie and subject_ref."""
    if v.name in ("accepted", "rejected"):
        action = "accept_all" if v.name == "accepted" else "reject_all"
        answer = await http.post(
            "/_privacy/consent", json={"action": action}, headers={"Origin": world.url}
        )
        assert answer.status_code == 200, answer.text
    elif v.name == "gpc":
        assert (await http.get("/")).status_code == 200
    v.cookie = http.cookies.get("cg_id")
    state = (await http.get("/_privacy/consent")).json()
    v.subject_ref = state["subject_ref"]
    if v.name in ("undecided", "gpc"):
        # gdpr: no identifier before a choice; GPC is honoured from the header alone and
        # never creates one. Nothing that could be mixed up.
        assert v.cookie is None and v.subject_ref is None
    else:
        assert v.cookie and v.subject_ref


async def one(v: Visitor, http: httpx.AsyncClient, path: str, others: set[str]) -> None:
    answer = await http.get(path)
    v.answers += 1
    try:
        assert answer.status_code == 200, (answer.status_code, answer.text[:200])
        for header in answer.headers.get_list("set-cookie"):
            # Only ever this visitor's own cookie; never another's id.
            assert not any(other in header for other in others), header
            if header.startswith("cg_id="):
                assert header.split(";")[0] == f"cg_id={v.cookie}", header
        if path == "/_privacy/consent":
            state = answer.json()
            assert state["purposes"] == v.purposes, state
            assert state["subject_ref"] == v.subject_ref and state["source"] == v.source, state
            assert "no-store" in answer.headers["cache-control"]
        else:
            html = answer.text
            v.check_page(html)
            assert not any(other in html for other in others)
            # Contract: a personalized or bannered page is never stored by a shared cache.
            assert "private" in answer.headers["cache-control"], answer.headers
            assert "cookie" in answer.headers["vary"].lower(), answer.headers
    except AssertionError as exc:
        v.problems.append(f"{path}: {exc}")


def test_visitors_never_see_each_others_state_under_load(
    world: DemoWorld, figures: Figures
) -> None:
    people = visitors()
    paths = ("/", "/_privacy/consent", "/product/RW-001")

    async def main() -> None:
        clients = [client(world, v) for v in people]
        try:
            for v, http in zip(people, clients, strict=True):
                await prepare(world, v, http)
            secrets = {v.name: {s for s in (v.cookie, v.subject_ref) if s} for v in people}
            gate = asyncio.Semaphore(CONCURRENCY)

            async def bounded(i: int) -> None:
                k = i % len(people)
                v = people[k]
                others = set().union(*(s for n, s in secrets.items() if n != v.name))
                async with gate:
                    await one(v, clients[k], paths[(i // len(people)) % len(paths)], others)

            await asyncio.gather(*(bounded(i) for i in range(REQUESTS)))
            assert clients[3].cookies.get("cg_id") is None  # still no identifier
        finally:
            for http in clients:
                await http.aclose()

    asyncio.run(main())
    assert sum(v.answers for v in people) == REQUESTS
    for v in people:
        assert not v.problems, f"{v.name}: {len(v.problems)} bad answers, first: {v.problems[0]}"
    figures.add("requests under load", REQUESTS)
    figures.set_max("interleaved requests without cross-talk", REQUESTS)
    figures.set_max("requests in flight at once (isolation)", CONCURRENCY)


# --- self-service endpoints act only on the requesting visitor -------------------------------


def sync_client(world: DemoWorld, ip: str, **headers: str) -> httpx.Client:
    return httpx.Client(
        base_url=world.url,
        headers={"X-Forwarded-For": ip, "Origin": world.url, **headers},
        timeout=30,
        follow_redirects=False,
    )


def test_self_service_cannot_name_another_subject(world: DemoWorld) -> None:
    with (
        sync_client(world, "81.2.69.170") as victim,
        sync_client(world, "81.2.69.171") as intruder,
        sync_client(world, "81.2.69.172") as stranger,
    ):
        assert victim.post("/_privacy/consent", json={"action": "accept_all"}).status_code == 200
        victim_id = victim.cookies["cg_id"]
        ref = victim.get("/_privacy/consent").json()["subject_ref"]
        names = {
            "subject_ref": ref,
            "subject": ref,
            "ref": ref,
            "cg_id": victim_id,
            "visitor": victim_id,
        }

        # Reading: whatever the query names, the answer is the requester's own state.
        mine = stranger.get("/_privacy/consent", params=names).json()
        assert mine["subject_ref"] is None and mine["purposes"]["analytics"] is False
        page = stranger.get("/_privacy/preferences", params=names)
        assert page.status_code == 200 and ref not in page.text
        assert stranger.get("/_privacy/my-data", params=names).status_code == 404

        # Writing: extra fields naming someone are refused (JSON) or ignored (query, form).
        refused = intruder.post("/_privacy/consent", json={"action": "reject_all", **names})
        assert refused.status_code == 400 and "unknown field" in refused.json()["error"]
        own = intruder.post("/_privacy/consent", params=names, json={"action": "reject_all"})
        assert own.status_code == 200 and own.json()["subject_ref"] not in (None, ref)
        intruder_ref = own.json()["subject_ref"]
        form = intruder.post(
            "/_privacy/consent",
            params=names,
            data={"action": "reject_all", "return_to": "/", **names},
        )
        assert form.status_code == 303
        bundle = intruder.get("/_privacy/my-data", params=names)
        assert bundle.status_code == 200 and bundle.json()["subject_ref"] == intruder_ref
        assert ref not in bundle.text and victim_id not in bundle.text

        # Erasure by a visitor without a subject, naming the victim every way: nothing.
        erase = stranger.post(
            "/_privacy/my-data/delete", params=names, data={"confirm": "yes", **names}
        )
        assert erase.status_code == 404
        erase = stranger.post("/_privacy/my-data/delete", params=names, json={"confirm": True})
        assert erase.status_code == 404

        # The victim's state and data are untouched.
        state = victim.get("/_privacy/consent").json()
        assert state["subject_ref"] == ref and state["source"] == "api"
        assert all(state["purposes"].values())
        assert victim.get("/_privacy/my-data").json()["subject_ref"] == ref


# --- the console needs login and the right role; events need their token ---------------------

# Every console route: (method, path, officer only).
CONSOLE_ROUTES = [
    ("GET", "", False),
    ("GET", "/", False),
    ("GET", "/audit", False),
    ("GET", "/audit?subject=CG-X", True),
    ("GET", "/audit/export.csv", True),
    ("GET", "/audit/export.jsonl", True),
    ("GET", "/requests", True),
    ("GET", "/stats", False),
    ("GET", "/subjects?ref=CG-X", True),
    ("POST", "/logout", False),
    ("POST", "/audit/verify", False),
    ("POST", "/requests/r1/complete", True),
]


def add_user(world: DemoWorld, name: str, role: str) -> None:
    succeeded("admin", "add-user", name, "--role", role, config=world.config, input=PASSWORD + "\n")


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match is not None, html[:1000]
    return match.group(1)


def sign_in(http: httpx.Client, name: str, password: str = PASSWORD) -> httpx.Response:
    form = http.get(f"{ADMIN}/login")
    assert form.status_code == 200
    return http.post(
        f"{ADMIN}/login",
        data={"csrf": csrf_of(form.text), "name": name, "password": password, "next": ""},
    )


@pytest.mark.parametrize(("method", "path", "officer_only"), CONSOLE_ROUTES)
def test_console_route_needs_a_session(
    world: DemoWorld, method: str, path: str, officer_only: bool
) -> None:
    with sync_client(world, "10.9.0.1") as http:
        if method == "GET":
            answer = http.get(ADMIN + path)
            assert answer.status_code == 303
            assert answer.headers["location"].startswith(f"{ADMIN}/login?next=")
        else:
            answer = http.post(ADMIN + path, data={"csrf": "0" * 64})
            assert answer.status_code == 403
        # A forged session cookie is no session.
        http.cookies.set("cg_admin", "f" * 43)
        forged = http.request(
            method, ADMIN + path, data={"csrf": "0" * 64} if method == "POST" else None
        )
        assert forged.status_code in (303, 403)
        assert "cg_admin=f" not in forged.headers.get("set-cookie", "")


def test_operator_is_refused_every_officer_route(world: DemoWorld) -> None:
    add_user(world, "iso-operator", "operator")
    with sync_client(world, "10.9.0.2") as http:
        assert sign_in(http, "iso-operator").status_code == 303
        csrf = csrf_of(http.get(f"{ADMIN}/audit").text)
        for method, path, officer_only in CONSOLE_ROUTES:
            if path == "/logout":
                continue
            answer = http.request(
                method, ADMIN + path, data={"csrf": csrf} if method == "POST" else None
            )
            if officer_only:
                assert answer.status_code == 403, (method, path)
                assert "officer role only" in answer.text, (method, path)
            else:
                assert answer.status_code in (200, 303), (method, path, answer.status_code)


def test_non_ascii_tokens_are_refused_not_errors(world: DemoWorld) -> None:
    # Found by the consent API properties: compare_digest raised on non-ASCII text (503).
    with sync_client(world, "10.9.0.4") as http:
        raw = {"Cookie": "cg_admin_pre=\u00e9t\u00e9".encode("latin-1")}  # not sendable as str
        assert http.get(f"{ADMIN}/login", headers=raw).status_code == 200
        login = http.post(
            f"{ADMIN}/login", headers=raw, data={"csrf": "\u00e9", "name": "x", "password": "y"}
        )
        assert login.status_code == 403
    with httpx.Client(base_url=world.url, headers={"X-Forwarded-For": "81.2.69.190"}) as http:
        form = http.post("/_privacy/consent", data={"action": "reject_all", "csrf": "\u00e9"})
        assert form.status_code == 403 and "CSRF" in form.json()["error"]


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),
        ("Bearer", 401),
        ("Bearer wrong-token-wrong-token", 401),
        (f"Bearer {EVENTS_TOKEN}x", 401),
        (f"Basic {EVENTS_TOKEN}", 401),
        (f"Bearer {EVENTS_TOKEN}", 202),
    ],
)
def test_events_endpoint_needs_its_token(
    world: DemoWorld, authorization: str | None, status: int
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    answer = httpx.post(
        f"{world.url}/_privacy/events",
        headers=headers,
        timeout=10,
        json={"type": "view", "visitor": "A" * 22, "sku": "RW-001"},
    )
    assert answer.status_code == status, answer.text
    if status == 401:
        assert answer.headers["www-authenticate"].startswith("Bearer")
    else:  # the right token: accepted, and nothing stored for an unknown visitor
        assert answer.json()["recorded"] is False


# --- rate limits --------------------------------------------------------------------------------


def test_consent_posts_are_rate_limited_per_client_network(world: DemoWorld) -> None:
    # consent.rate_per_minute defaults to 30 (a full bucket of 30, then one every 2 s); all
    # addresses in one IPv6 /64 share a bucket. Posting goes on until refused (bounded), so the
    # refill while the posts run cannot make the test depend on speed.
    statuses = []
    for i in range(200):
        with sync_client(world, f"2001:db8:81::{i + 1:x}") as http:
            statuses.append(http.post("/_privacy/consent", json={"action": "reject_all"}))
        if statuses[-1].status_code != 200:
            break
    assert [s.status_code for s in statuses[:30]] == [200] * 30
    limited = statuses[-1]
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert "too many consent choices" in limited.json()["error"]
    # Another /64 (and another IPv4 address) has its own bucket.
    with sync_client(world, "2001:db8:81:1::1") as other:
        assert other.post("/_privacy/consent", json={"action": "reject_all"}).status_code == 200
    # Reading the state is not limited.
    with sync_client(world, "2001:db8:81::1") as same:
        assert same.get("/_privacy/consent").status_code == 200


def test_login_is_rate_limited_with_retry_after(world: DemoWorld) -> None:
    with sync_client(world, "10.9.0.3") as http:
        # A new name each time: the per-(name, client) throttle is not what this exercises.
        answers = [sign_in(http, f"nobody{i}", "wrong password!") for i in range(11)]
    assert [a.status_code for a in answers[:10]] == [401] * 10
    assert answers[10].status_code == 429
    assert int(answers[10].headers["retry-after"]) >= 1
    assert "Too many sign-in attempts" in answers[10].text


def test_erasure_posts_share_the_self_service_limit(world: DemoWorld) -> None:
    # dsr.rate_per_minute defaults to 10 per client, export and erasure together.
    with sync_client(world, "81.2.69.180") as http:
        codes = [
            http.post("/_privacy/my-data/delete", data={"confirm": "yes"}).status_code
            for _ in range(11)
        ]
        assert codes[:10] == [404] * 10 and codes[10] == 429
        limited = http.get("/_privacy/my-data")
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert "too many data requests" in limited.json()["error"]
