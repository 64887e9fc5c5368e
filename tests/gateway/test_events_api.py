"""`POST /_privacy/events`: authentication, validation, consent gating and storage, through
the real ASGI handler on a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette

from consent.pseudonyms import new_visitor_id
from consent.state import action_choices, choice_record
from consent.store import ConsentStore
from gateway.demo.world import DemoPaths, demo_config
from gateway.routes.events import MAX_BODY, EventsApi
from personalization_rules.profile_store import ProfileStore, cg_events, cg_profiles
from policies.models import Config
from storage.store import open_store

TOKEN = "test-events-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def config(token: str | None = TOKEN) -> Config:
    data = demo_config(DemoPaths(Path("/nonexistent")), 1, 2)
    if token is not None:
        data["personalization"]["events_token"] = token
    return Config.model_validate(data)


Check = Callable[[httpx.AsyncClient, dict[str, str], ProfileStore], Awaitable[None]]


def run(store_url: str, check: Check, token: str | None = TOKEN) -> None:
    """Open the store, make three visitors (granted, refused, no subject), serve the API."""

    async def main() -> None:
        cfg = config(token)
        store = await open_store(store_url)
        try:
            consent = await ConsentStore.open(store, os.urandom(32))
            profiles = ProfileStore(store)
            now = datetime.now(UTC)
            visitors: dict[str, str] = {}
            for name, action in (("granted", "accept_all"), ("refused", "reject_all")):
                visitor_id = new_visitor_id(os.urandom)
                subject = await consent.create_subject(visitor_id, now)
                record = choice_record(
                    cfg,
                    "gdpr",
                    None,
                    action_choices(cfg, "gdpr", action),  # type: ignore[arg-type]
                    method="banner",
                    shown_text_hash="0" * 64,
                    language="en",
                    gpc=False,
                    now=now,
                )
                await consent.append(subject.id, record)
                visitors[name] = visitor_id
                visitors[name + "_subject"] = subject.id
            visitors["stranger"] = new_visitor_id(os.urandom)
            api = EventsApi(cfg, lambda: consent, lambda: profiles)
            app = Starlette(routes=api.routes())
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
                await check(client, visitors, profiles)
        finally:
            await store.close()

    asyncio.run(main())


async def post(
    client: httpx.AsyncClient, body: Any, headers: dict[str, str] | None = None, **kwargs: Any
) -> httpx.Response:
    headers = AUTH if headers is None else headers
    if "content" in kwargs:
        return await client.post("/_privacy/events", headers=headers, **kwargs)
    return await client.post("/_privacy/events", headers=headers, json=body)


def test_consented_events_are_stored(store_url: str) -> None:
    async def check(client: httpx.AsyncClient, v: dict[str, str], profiles: ProfileStore) -> None:
        answer = await post(client, {"type": "view", "visitor": v["granted"], "sku": "RW-001"})
        assert answer.status_code == 202 and answer.json() == {"recorded": True, "events": 1}
        order = {
            "type": "purchase",
            "visitor": v["granted"],
            "skus": ["RW-001", "RW-002"],
            "order_id": 1001,
            "value": 113.0,
            "currency": "EUR",
        }
        answer = await post(client, order)
        assert answer.json() == {"recorded": True, "events": 2}
        again = await post(client, order)  # the shop retried
        assert again.status_code == 202
        assert again.json() == {"recorded": False, "reason": "order already recorded"}
        exported = await profiles.export_subject(v["granted_subject"])
        assert [e["type"] for e in exported["events"]] == ["view", "purchase", "purchase"]
        assert exported["events"][1]["category"] == "rainwear"  # from the catalog
        assert exported["events"][1]["order_value"] == 113.0
        profile = await profiles.profile(v["granted_subject"], datetime.now(UTC))
        assert profile.type == "customer"
        async with profiles.store.engine.connect() as conn:
            orders = {r.order_id for r in await conn.execute(select(cg_events.c.order_id))}
        assert "1001" not in orders and len(orders - {None}) == 1  # a pseudonym, not the id

    run(store_url, check)


def test_identify_stores_only_a_keyed_pseudonym(store_url: str) -> None:
    async def check(client: httpx.AsyncClient, v: dict[str, str], profiles: ProfileStore) -> None:
        email = "Ada.Lovelace@Example.com"
        answer = await post(client, {"type": "identify", "visitor": v["granted"], "email": email})
        assert answer.json() == {"recorded": True, "events": 0}
        facts = await profiles.facts(v["granted_subject"])
        assert facts is not None and facts.customer is not None
        assert facts.customer.startswith("1:") and len(facts.customer) == 66
        async with profiles.store.engine.connect() as conn:
            stored = " ".join(r.facts for r in await conn.execute(select(cg_profiles)))
        assert email.lower() not in stored.lower() and "lovelace" not in stored.lower()
        # The same mailbox, typed differently, is the same pseudonym.
        await post(
            client,
            {"type": "identify", "visitor": v["granted"], "email": " ada.lovelace@example.COM "},
        )
        again = await profiles.facts(v["granted_subject"])
        assert again is not None and again.customer == facts.customer

    run(store_url, check)


def test_nothing_is_stored_without_consent_or_subject(store_url: str) -> None:
    async def check(client: httpx.AsyncClient, v: dict[str, str], profiles: ProfileStore) -> None:
        for kind in ("view", "purchase", "identify"):
            body = {"type": kind, "visitor": v["refused"], "sku": "RW-001", "customer_id": "7"}
            answer = await post(client, body)
            assert answer.status_code == 202
            assert answer.json() == {
                "recorded": False,
                "reason": "purpose personalization not granted",
            }
        answer = await post(client, {"type": "view", "visitor": v["stranger"], "sku": "RW-001"})
        assert answer.status_code == 202 and answer.json()["recorded"] is False
        assert await profiles.facts(v["refused_subject"]) is None
        assert (await profiles.export_subject(v["refused_subject"]))["events"] == []

    run(store_url, check)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "a bearer token is required"),
        ({"Authorization": "Bearer"}, "a bearer token is required"),
        ({"Authorization": f"Basic {TOKEN}"}, "a bearer token is required"),
        ({"Authorization": "Bearer wrong-token-wrong-token"}, "wrong bearer token"),
        ({"Authorization": f"Bearer {TOKEN}x"}, "wrong bearer token"),
    ],
)
def test_token_required(headers: dict[str, str], reason: str, tmp_path: Path) -> None:
    async def check(client: httpx.AsyncClient, v: dict[str, str], profiles: ProfileStore) -> None:
        answer = await post(client, {"type": "view", "visitor": v["granted"], "sku": "A"}, headers)
        assert answer.status_code == 401 and answer.json() == {"error": reason}
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert await profiles.facts(v["granted_subject"]) is None

    run(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}", check)


def test_bearer_scheme_is_case_insensitive(tmp_path: Path) -> None:
    async def check(client: httpx.AsyncClient, v: dict[str, str], profiles: ProfileStore) -> None:
        body = {"type": "view", "visitor": v["granted"], "sku": "RW-001"}
        answer = await post(client, body, {"Authorization": f"bearer {TOKEN}"})
        assert answer.status_code == 202 and answer.json()["recorded"] is True

    run(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}", check)


def test_no_configured_token_refuses_everything(tmp_path: Path) -> None:
    async def check(client: httpx.AsyncClient, v: dict[str, str], profiles: ProfileStore) -> None:
        answer = await post(client, {"type": "view", "visitor": v["granted"], "sku": "RW-001"})
        assert answer.status_code == 401 and "events_token" in answer.json()["error"]

    run(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}", check, token=None)


GOOD = "AAAAAAAAAAAAAAAAAAAAAA"  # a well-formed visitor id; replaced by the granted one


@pytest.mark.parametrize(
    ("body", "kwargs", "status", "fragment"),
    [
        (
            None,
            {"content": b"{nope", "headers": {**AUTH, "content-type": "application/json"}},
            400,
            "not JSON",
        ),
        (None, {"content": b"[1, 2]"}, 400, "JSON object"),
        (None, {"content": b"x" * (MAX_BODY + 1)}, 413, "limited"),
        (
            None,
            {"content": b"{}", "headers": {**AUTH, "content-type": "text/plain"}},
            415,
            "application/json",
        ),
        ({"type": "click", "visitor": GOOD}, {}, 400, "unknown event type"),
        ({"visitor": GOOD}, {}, 400, "unknown event type"),
        # Found by schemathesis (test_openapi.py): an unhashable type was a 500.
        ({"type": {}, "visitor": GOOD}, {}, 400, "unknown event type"),
        ({"type": ["view"], "visitor": GOOD}, {}, 400, "unknown event type"),
        ({"type": "view", "visitor": "not-a-cookie", "sku": "A"}, {}, 400, "cg_id"),
        ({"type": "view", "sku": "A"}, {}, 400, "cg_id"),
        ({"type": "view", "visitor": GOOD}, {}, 400, "needs a sku"),
        ({"type": "view", "visitor": GOOD, "sku": "<script>"}, {}, 400, "sku must be"),
        ({"type": "add_to_cart", "visitor": GOOD, "sku": 7}, {}, 400, "sku must be"),
        ({"type": "purchase", "visitor": GOOD, "value": -1}, {}, 400, "non-negative"),
        ({"type": "purchase", "visitor": GOOD, "value": "12"}, {}, 400, "non-negative"),
        ({"type": "purchase", "visitor": GOOD, "value": True}, {}, 400, "non-negative"),
        ({"type": "purchase", "visitor": GOOD, "currency": "euro"}, {}, 400, "ISO 4217"),
        ({"type": "purchase", "visitor": GOOD, "skus": "RW-001"}, {}, 400, "skus must be"),
        ({"type": "purchase", "visitor": GOOD, "skus": ["A"] * 101}, {}, 400, "skus must be"),
        ({"type": "purchase", "visitor": GOOD, "order_id": ["x"]}, {}, 400, "order_id"),
        ({"type": "purchase", "visitor": GOOD, "order_id": "x" * 129}, {}, 400, "order_id"),
        ({"type": "identify", "visitor": GOOD}, {}, 400, "customer_id or an email"),
        ({"type": "identify", "visitor": GOOD, "email": "no-at-sign"}, {}, 400, "email"),
    ],
)
def test_bad_requests(
    body: Any, kwargs: dict[str, Any], status: int, fragment: str, tmp_path: Path
) -> None:
    async def check(client: httpx.AsyncClient, v: dict[str, str], profiles: ProfileStore) -> None:
        payload = body
        if isinstance(body, dict) and body.get("visitor") == GOOD:
            payload = {**body, "visitor": v["granted"]}
        answer = await post(client, payload, **kwargs)
        assert answer.status_code == status
        assert fragment in answer.json()["error"]
        assert await profiles.facts(v["granted_subject"]) is None

    run(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}", check)


def test_store_unavailable_is_503(tmp_path: Path) -> None:
    async def main() -> None:
        api = EventsApi(config(), lambda: None, lambda: None)
        app = Starlette(routes=api.routes())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            visitor = new_visitor_id(os.urandom)
            answer = await post(client, {"type": "view", "visitor": visitor, "sku": "RW-001"})
        assert answer.status_code == 503 and "retry" in answer.json()["error"]

    asyncio.run(main())
