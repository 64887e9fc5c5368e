"""Abuse of well-formed requests against the running demo world: a GPC header that floods the
store, visitor CSRF tokens replayed for someone else, and sign-in guessing that would lock the
real officer out or queue their sign-in behind seconds of password hashing.

Everything is sent to real processes (`consentgate demo`); the CSRF rows go over raw sockets
exactly as written (no client adds an `Origin`), the rest with httpx. Visitors are played with
`X-Forwarded-For` (the demo trusts loopback as a proxy).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest

from tests.cli import succeeded
from tests.demo_world import LONDON, MILTON, SAN_FRANCISCO, DemoWorld, start_demo
from tests.figures import Figures
from tests.gateway.hostile.hostile_world import Answer, exchange, request

pytestmark = pytest.mark.e2e

ADMIN = "/_privacy/admin"
FORM = ("Content-Type", "application/x-www-form-urlencoded")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoWorld]:
    with start_demo(tmp_path_factory.mktemp("abuse")) as running:
        yield running
        assert "Traceback" not in running.server.log(), running.server.log()[-4000:]


def http(world: DemoWorld, ip: str, **headers: str) -> httpx.Client:
    return httpx.Client(
        base_url=world.url,
        headers={"X-Forwarded-For": ip, **headers},
        timeout=30,
        follow_redirects=False,
    )


def audit_actions(world: DemoWorld) -> Counter[str]:
    """How many audit entries of each action the whole log holds."""
    exported = succeeded("audit", "export", "--format", "jsonl", config=world.config)
    return Counter(json.loads(line)["action"] for line in exported.splitlines())


def choose(world: DemoWorld, ip: str, action: str = "reject_all") -> str:
    """A visitor from `ip` makes a choice (same origin); returns their cg_id cookie."""
    with http(world, ip, Origin=world.url) as client:
        answer = client.post("/_privacy/consent", json={"action": action})
        assert answer.status_code == 200, answer.text
        cookie: str = answer.cookies["cg_id"]
    return cookie


def state_of(world: DemoWorld, ip: str, cookie: str | None) -> dict[str, object]:
    with http(world, ip) as client:
        if cookie is not None:
            client.cookies.set("cg_id", cookie)
        state: dict[str, object] = client.get("/_privacy/consent").json()
    return state


# --- GPC is a standing preference, not a write per request -------------------------------------


def test_a_flip_flopping_gpc_header_writes_once(world: DemoWorld, figures: Figures) -> None:
    cookie = choose(world, SAN_FRANCISCO, "accept_all")
    before = audit_actions(world)["consent.gpc"]
    with http(world, SAN_FRANCISCO) as client:
        client.cookies.set("cg_id", cookie)
        for i in range(200):
            gpc = "1" if i % 2 == 0 else "0"
            state = client.get("/_privacy/consent", headers={"Sec-GPC": gpc}).json()
            if gpc == "1":  # honoured on every request, from the header alone
                assert state["purposes"]["marketing"] is False and state["source"] == "gpc"
    figures.add("hostile inputs tried")  # one flood, counted once
    # The opt-out is recorded once; flipping back within the settle window writes nothing.
    assert audit_actions(world)["consent.gpc"] - before == 1


@pytest.mark.parametrize("address", [SAN_FRANCISCO, MILTON])
def test_cookieless_gpc_creates_no_subject(
    world: DemoWorld, figures: Figures, address: str
) -> None:
    before = audit_actions(world)
    with http(world, address, **{"Sec-GPC": "1"}) as client:
        for i in range(50):
            answer = client.get("/" if i % 2 else "/_privacy/consent")
            assert answer.status_code == 200
            assert not any(c.startswith("cg_id=") for c in answer.headers.get_list("set-cookie"))
            assert "cg_id" not in client.cookies
        state = client.get("/_privacy/consent").json()
    figures.add("hostile inputs tried")
    assert state["subject_ref"] is None and state["source"] == "gpc"
    assert state["purposes"]["marketing"] is False
    assert audit_actions(world) == before  # no subject, no record, no checkpoint


def test_gpc_writes_are_bounded_per_client(world: DemoWorld, figures: Figures) -> None:
    # 35 visitors with subjects (each chose from an address of its own), then one client
    # replays all their cookies with Sec-GPC: 1. The demo's consent.rate_per_minute is 30.
    cookies = [choose(world, f"198.18.7.{i + 1}", "accept_all") for i in range(35)]
    before = audit_actions(world)["consent.gpc"]
    with http(world, "198.18.8.1", **{"Sec-GPC": "1"}) as client:
        for cookie in cookies:
            answer = client.get("/_privacy/consent", headers={"Cookie": f"cg_id={cookie}"})
            assert answer.json()["purposes"]["marketing"] is False  # always honoured
    figures.add("hostile inputs tried")
    written = audit_actions(world)["consent.gpc"] - before
    assert 1 <= written <= 30, written


# --- visitor CSRF tokens belong to one visitor and one action ------------------------------------


def post_form(
    world: DemoWorld,
    path: str,
    fields: dict[str, str],
    *,
    ip: str,
    cookie: str | None,
    extra: list[tuple[str, str]] | None = None,
) -> Answer:
    """A form post over a raw socket: no Origin, no Sec-Fetch-Site unless in `extra`."""
    headers: list[tuple[str, str | bytes]] = [FORM]
    if cookie is not None:
        headers.append(("Cookie", f"cg_id={cookie}"))
    headers.extend(extra or [])
    body = urlencode(fields).encode()
    return exchange(world.server.port, request("POST", path, headers, body, address=ip))


def anonymous_token(world: DemoWorld, ip: str) -> str:
    """What a cookieless GET /_privacy/consent hands out (an attacker can fetch it)."""
    with http(world, ip) as client:
        token: str = client.get("/_privacy/consent").headers["x-csrf-token"]
    return token


def page_token(world: DemoWorld, ip: str, cookie: str, path: str) -> str:
    with http(world, ip) as client:
        client.cookies.set("cg_id", cookie)
        page = client.get(path).text
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found is not None, page[:500]
    return found.group(1)


VICTIM_IP = "81.2.69.161"  # London (gdpr): the victim's own network
ATTACKER_IP = "203.0.113.66"


@pytest.fixture
def victim(world: DemoWorld) -> str:
    """A London visitor who rejected everything (their cg_id)."""
    return choose(world, VICTIM_IP, "reject_all")


def forged_tokens(world: DemoWorld, victim: str) -> dict[str, str]:
    """Tokens an attacker can get hold of, none minted for the victim's erasure."""
    attacker = choose(world, ATTACKER_IP, "reject_all")
    return {
        "anonymous-from-attacker": anonymous_token(world, ATTACKER_IP),
        # An attacker behind the victim's NAT: same network, still no visitor.
        "anonymous-from-victim-network": anonymous_token(world, VICTIM_IP),
        "attacker-own-visitor": page_token(world, ATTACKER_IP, attacker, "/_privacy/preferences"),
        "victim-consent-token-for-delete": page_token(
            world, VICTIM_IP, victim, "/_privacy/preferences"
        ),
        "none": "",
        "junk": "0" * 32,
    }


def test_a_token_of_no_or_another_visitor_changes_no_ones_consent(
    world: DemoWorld, figures: Figures, victim: str
) -> None:
    tokens = forged_tokens(world, victim)
    del tokens["victim-consent-token-for-delete"]  # the victim's own: tested below
    extras: dict[str, list[tuple[str, str]]] = {
        "no-origin": [],
        "origin-null": [("Origin", "null")],
        "same-site-fetch-but-no-origin": [("Sec-Fetch-Site", "same-origin")],
    }
    for token_name, token in tokens.items():
        for extra_name, extra in extras.items():
            answer = post_form(
                world,
                "/_privacy/consent",
                {"action": "accept_all", "csrf": token},
                ip=VICTIM_IP,
                cookie=victim,
                extra=extra,
            )
            figures.add("hostile inputs tried")
            case = f"{token_name}, {extra_name}"
            assert answer.status == 403, (case, answer.raw[:300])
            assert b"CSRF" in answer.body, case
    state = state_of(world, VICTIM_IP, victim)
    assert state["source"] == "api" and not any(
        on
        for pid, on in state["purposes"].items()
        if pid != "essential"  # type: ignore[attr-defined]
    )
    # The victim's own page token works without Origin (old browsers, stripped headers).
    own = page_token(world, VICTIM_IP, victim, "/_privacy/preferences")
    answer = post_form(
        world,
        "/_privacy/consent",
        {
            "action": "save",
            "purpose": "analytics",
            "csrf": own,
            "method": "preferences",
            "return_to": "/_privacy/preferences",
        },
        ip=VICTIM_IP,
        cookie=victim,
    )
    assert answer.status == 303, answer.raw[:300]
    assert state_of(world, VICTIM_IP, victim)["source"] == "preferences"


def test_a_token_of_no_or_another_visitor_erases_no_one(
    world: DemoWorld, figures: Figures, victim: str
) -> None:
    for token_name, token in forged_tokens(world, victim).items():
        answer = post_form(
            world,
            "/_privacy/my-data/delete",
            {"confirm": "yes", "csrf": token},
            ip=VICTIM_IP,
            cookie=victim,
        )
        figures.add("hostile inputs tried")
        assert answer.status == 403, (token_name, answer.raw[:300])
    assert state_of(world, VICTIM_IP, victim)["subject_ref"] is not None  # still there
    # The erasure form's own token, for this visitor, does erase (no Origin needed): the
    # confirmation page and the preference center's erasure form carry the same one.
    own = page_token(world, VICTIM_IP, victim, "/_privacy/my-data/delete")
    with http(world, VICTIM_IP) as client:
        client.cookies.set("cg_id", victim)
        prefs = client.get("/_privacy/preferences").text
    assert re.findall(r'name="csrf" value="([0-9a-f]+)"', prefs)[-1] == own
    answer = post_form(
        world,
        "/_privacy/my-data/delete",
        {"confirm": "yes", "csrf": own},
        ip=VICTIM_IP,
        cookie=victim,
    )
    assert answer.status == 200, answer.raw[:300]
    assert state_of(world, VICTIM_IP, victim)["subject_ref"] is None


def test_a_first_time_visitor_banner_works_without_origin(
    world: DemoWorld, figures: Figures
) -> None:
    # gdpr: no cookie before the first choice, so the banner's token is bound to the network.
    with http(world, LONDON) as client:
        page = client.get("/")
    assert 'id="consentgate-banner"' in page.text and "cg_id" not in page.cookies
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert found is not None
    fields = {
        "action": "reject_all",
        "csrf": found.group(1),
        "return_to": "/",
        "method": "banner",
        "lang": "en",
    }
    # The same token from another network (the attacker who fetched it) is refused ...
    stolen = post_form(world, "/_privacy/consent", fields, ip=ATTACKER_IP, cookie=None)
    figures.add("hostile inputs tried")
    assert stolen.status == 403 and stolen.header("set-cookie") is None
    # ... and works for the visitor it was shown to.
    answer = post_form(world, "/_privacy/consent", fields, ip=LONDON, cookie=None)
    assert answer.status == 303, answer.raw[:300]
    assert (answer.header("set-cookie") or "").startswith("cg_id=")


def test_an_api_client_without_origin_chains_its_tokens(world: DemoWorld) -> None:
    # A cookieless client (no Origin: not a browser) takes its token from GET, then the one
    # bound to its new cookie from each answer.
    with http(world, "198.18.13.1") as client:
        token = client.get("/_privacy/consent").headers["x-csrf-token"]
        first = client.post(
            "/_privacy/consent", json={"action": "reject_all"}, headers={"X-CSRF-Token": token}
        )
        assert first.status_code == 200, first.text
        client.cookies.set("cg_id", first.cookies["cg_id"])
        # The cookieless token no longer vouches once the client has a cookie ...
        stale = client.post(
            "/_privacy/consent",
            json={"purposes": {"analytics": True}},
            headers={"X-CSRF-Token": token},
        )
        assert stale.status_code == 403
        # ... the one from the answer does.
        second = client.post(
            "/_privacy/consent",
            json={"purposes": {"analytics": True}},
            headers={"X-CSRF-Token": first.headers["x-csrf-token"]},
        )
        assert second.status_code == 200 and second.json()["purposes"]["analytics"] is True


# --- sign-in guessing never locks the officer out or queues their sign-in -----------------------


def officer_password(world: DemoWorld) -> str:
    return (world.data_dir / "officer-password.txt").read_text().strip()


def login_form(client: httpx.Client) -> str:
    form = client.get(f"{ADMIN}/login")
    assert form.status_code == 200
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', form.text)
    assert found is not None
    return found.group(1)


def test_guessing_from_many_addresses_does_not_lock_the_officer_out(
    world: DemoWorld, figures: Figures
) -> None:
    statuses: Counter[int] = Counter()
    for a in range(10):
        with http(world, f"198.18.9.{a + 1}") as guesser:
            csrf = login_form(guesser)
            for _ in range(6):
                answer = guesser.post(
                    f"{ADMIN}/login",
                    data={"csrf": csrf, "name": "officer", "password": "not-the-password-1"},
                )
                statuses[answer.status_code] += 1
    figures.add("hostile inputs tried")
    assert set(statuses) <= {401, 429, 503}, statuses
    assert statuses[429] > 0  # each guessing address was slowed down
    with http(world, "198.18.10.1") as officer:
        csrf = login_form(officer)
        answer = officer.post(
            f"{ADMIN}/login",
            data={"csrf": csrf, "name": "officer", "password": officer_password(world)},
        )
    assert answer.status_code == 303, answer.text


def test_a_sign_in_flood_is_refused_not_queued(world: DemoWorld, figures: Figures) -> None:
    async def flood() -> tuple[list[httpx.Response], httpx.Response, float]:
        guessers = [
            httpx.AsyncClient(
                base_url=world.url, timeout=120, headers={"X-Forwarded-For": f"198.18.11.{a + 1}"}
            )
            for a in range(10)
        ]
        officer = httpx.AsyncClient(
            base_url=world.url, timeout=120, headers={"X-Forwarded-For": "198.18.12.1"}
        )
        try:
            tokens = []
            for client in [*guessers, officer]:
                form = await client.get(f"{ADMIN}/login")
                found = re.search(r'name="csrf" value="([0-9a-f]+)"', form.text)
                assert found is not None
                tokens.append(found.group(1))

            def guess(i: int) -> asyncio.Future[httpx.Response]:
                client = guessers[i % 10]
                data = {"csrf": tokens[i % 10], "name": "officer", "password": f"guess-{i:04d}-x"}
                return asyncio.ensure_future(client.post(f"{ADMIN}/login", data=data))

            attempts = [guess(i) for i in range(100)]
            await asyncio.sleep(0.3)  # the flood is in
            started = time.monotonic()
            data = {"csrf": tokens[10], "name": "officer", "password": officer_password(world)}
            mine = await officer.post(f"{ADMIN}/login", data=data)
            took = time.monotonic() - started
            deadline = time.monotonic() + 60
            while mine.status_code == 503 and time.monotonic() < deadline:
                # Told at once when to come back (the flood may still be arriving: on a small
                # machine two scrypt runs take both cores); coming back soon works.
                await asyncio.sleep(int(mine.headers["retry-after"]))
                mine = await officer.post(f"{ADMIN}/login", data=data)
            return list(await asyncio.gather(*attempts)), mine, took
        finally:
            for client in [*guessers, officer]:
                await client.aclose()

    answers, mine, took = asyncio.run(flood())
    figures.add("hostile inputs tried")
    statuses = Counter(a.status_code for a in answers)
    assert set(statuses) <= {401, 429, 503}, statuses
    # At most a couple of hashes run at once; the rest are refused with a time to come back.
    assert statuses[503] > 0, statuses
    assert all(a.headers.get("retry-after") for a in answers if a.status_code in (429, 503))
    # The officer's first answer came in seconds, not after ~25 s of other people's hashing.
    assert took < 8, took
    assert mine.status_code == 303, mine.text
