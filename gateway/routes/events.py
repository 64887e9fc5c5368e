"""`POST /_privacy/events`: the storefront's server tells the gateway what a visitor did.

Request (server to server; never from a browser):

    POST /_privacy/events
    Authorization: Bearer <personalization.events_token>
    Content-Type: application/json

    {"type": "view" | "add_to_cart" | "purchase" | "identify",
     "visitor": "<the cg_id cookie value, as the shop saw it in the visitor's Cookie header>",
     "sku": "RW-001",                 view, add_to_cart (required); purchase (optional)
     "skus": ["RW-001", "HM-002"],    purchase: several products of one order (optional)
     "order_id": "1001",              purchase (optional; a retried post is recorded once)
     "value": 113.0,                  purchase: the order's value (optional, >= 0)
     "currency": "EUR",               purchase: ISO 4217 (optional)
     "customer_id": "c-77" | "email": "a@example.com"}    identify (one of them)

Answers (JSON): 202 `{"recorded": true, "events": N}` when stored; 202
`{"recorded": false, "reason": "..."}` when the gateway may not or need not store it (no
subject for that visitor, the covering purpose not granted, an order already recorded);
401 without the right token (and whenever no token is configured); 400/413/415 with
`{"error": "..."}` for a malformed request; 503 while the store is unavailable.

Consent is checked per event, for the subject the visitor id maps to, from their latest
consent record: behaviour events (view, add_to_cart, purchase) need the purpose covering
`behavior.profile`, `identify` the one covering `customer.attributes`
(`personalization.data_purposes`); ungranted, nothing is stored.

Identifiers from the shop are never stored as given: the order id only as a keyed pseudonym
(`Keyring.derive(b"order", ...)`, to recognise a retried post), and the customer id or e-mail
of `identify` only as `Keyring.derive(b"customer", ...)` of its normalized form, kept in the
profile so a later cross-device link can compare pseudonyms. The keys live sealed in the
store (consent.pseudonyms); without them the pseudonyms cannot be reversed or recomputed
from a guessed e-mail, and erasing the subject deletes them with the profile.
"""

from __future__ import annotations

import hmac
import logging
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from consent.pseudonyms import parse_visitor_id
from consent.state import resolve
from consent.store import ConsentStore
from gateway.http.body import media_type, parse_json_object, read_body
from gateway.http.errors import HttpError, unavailable
from personalization_rules.attributes import BEHAVIOR_PROFILE, CUSTOMER_ATTRIBUTES, DataPolicy
from personalization_rules.profile import ShopEvent
from personalization_rules.profile_store import ProfileStore
from personalization_rules.recommender import Product, load_products
from policies.models import Config

log = logging.getLogger("consentgate.events")

MAX_BODY: Final = 16 * 1024
MAX_SKUS: Final = 100
MAX_ID: Final = 128
MAX_EMAIL: Final = 320  # RFC 3696 errata: 64 + 1 + 255
EVENT_TYPES: Final = frozenset({"view", "add_to_cart", "purchase", "identify"})
_SKU = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}")
_CURRENCY = re.compile(r"[A-Z]{3}")

ConsentGetter = Callable[[], ConsentStore | None]
ProfileGetter = Callable[[], ProfileStore | None]
ProductLookup = Callable[[str], Product | None]


class EventsApi:
    """The handler of `POST {prefix}/events` (module docstring)."""

    def __init__(
        self,
        config: Config,
        consent_store_getter: ConsentGetter,
        profile_store_getter: ProfileGetter,
        product_lookup: ProductLookup | None = None,
    ) -> None:
        self.config = config
        self.prefix = config.gateway.prefix
        token = config.personalization.events_token
        self._token = token.encode() if token else None
        self.consent_store = consent_store_getter
        self.profile_store = profile_store_getter
        if product_lookup is None:
            products = {p.sku: p for p in load_products(config.catalog)} if config.catalog else {}
            product_lookup = products.get
        self.product = product_lookup
        self.policy = DataPolicy(dict(config.personalization.data_purposes))

    def routes(self) -> list[Route]:
        """The Starlette routes this module answers."""
        return [Route(f"{self.prefix}/events", self.post_event, methods=["POST"])]

    async def post_event(self, request: Request) -> Response:
        """Authenticate, validate, check consent, store (see the module docstring)."""
        try:
            self.authenticate(request)
            body = await self.read_json(request)
            return await self.record(body, datetime.now(UTC))
        except HttpError as exc:
            response = exc.response()
            response.headers["cache-control"] = "no-store"
            return response

    def authenticate(self, request: Request) -> None:
        """The bearer token, compared in constant time; 401 otherwise."""
        if self._token is None:
            raise _unauthorized("events are disabled: no personalization.events_token configured")
        scheme, _, given = request.headers.get("authorization", "").strip().partition(" ")
        # RFC 6750 §2.1: "Bearer" then the token; the scheme is case-insensitive (RFC 9110 §11.1).
        if scheme.lower() != "bearer" or not given.strip():
            raise _unauthorized("a bearer token is required")
        if not hmac.compare_digest(given.strip().encode(), self._token):
            raise _unauthorized("wrong bearer token")

    async def read_json(self, request: Request) -> dict[str, Any]:
        """The JSON object body, at most MAX_BODY bytes."""
        # No Content-Type at all is taken as JSON; any other type is refused.
        if "content-type" in request.headers and media_type(request) != "application/json":
            raise HttpError(415, "the body must be application/json")
        return parse_json_object(await read_body(request, MAX_BODY))

    async def record(self, body: dict[str, Any], now: datetime) -> Response:
        """Validate `body`, check the subject's consent, and store the event(s)."""
        kind = body.get("type")
        # An unhashable `type` (object, array) is a bad request too, not a TypeError (500);
        # found by schemathesis (tests/gateway/test_openapi.py).
        if not isinstance(kind, str) or kind not in EVENT_TYPES:
            raise HttpError(
                400, f"unknown event type {str(kind)[:32]!r}; use {sorted(EVENT_TYPES)}"
            )
        visitor_id = parse_visitor_id(_text(body, "visitor", 64))
        if visitor_id is None:
            raise HttpError(400, "visitor must be the visitor's cg_id cookie value")
        events: list[ShopEvent] = []
        identity: str | None = None
        if kind == "identify":
            identity = _identity(body)
        else:
            events = self.events(kind, body, now)
        consent, profiles = self.consent_store(), self.profile_store()
        if consent is None or profiles is None:
            raise unavailable("the store is unavailable; retry later")
        subject = await consent.find_subject(visitor_id)
        if subject is None:
            return _not_recorded("unknown visitor: no consent choice recorded")
        category = CUSTOMER_ATTRIBUTES if kind == "identify" else BEHAVIOR_PROFILE
        try:
            purpose = self.policy.purpose_for(category)
        except KeyError:  # fail closed: nobody covers this data, so it is never kept
            return _not_recorded(f"no purpose covers {category}")
        if purpose is not None:
            latest = await consent.latest(subject.id)
            # The event comes from the shop's server, not the visitor: the regime and GPC
            # signal are those of the subject's latest record (the strictest without one).
            regime = latest.regime if latest is not None else self.config.jurisdiction.unknown
            gpc = latest.gpc if latest is not None else False
            state = resolve(self.config, regime, latest, gpc, now, subject.ref)
            if purpose not in state.granted:
                return _not_recorded(f"purpose {purpose} not granted")
        if identity is not None:
            pseudonym = consent.keyring.derive(b"customer", identity.encode())
            await profiles.set_customer(subject.id, pseudonym, now)
            return JSONResponse({"recorded": True, "events": 0}, 202)
        events = [
            _with_order(e, consent.keyring.derive(b"order", e.order_id.encode()))
            if e.order_id
            else e
            for e in events
        ]
        stored = await profiles.record_events(subject.id, events)
        if not stored:
            return _not_recorded("order already recorded")
        return JSONResponse({"recorded": True, "events": stored}, 202)

    def events(self, kind: str, body: dict[str, Any], now: datetime) -> list[ShopEvent]:
        """The events a valid body describes (one per SKU); 400 for a bad field."""
        sku = _sku(body.get("sku"), "sku")
        if kind in ("view", "add_to_cart"):
            if sku is None:
                raise HttpError(400, f"a {kind} event needs a sku")
            return [ShopEvent(kind, now, sku, self._category(sku))]  # type: ignore[arg-type]
        skus = [] if sku is None else [sku]
        listed = body.get("skus")
        if listed is not None:
            if not isinstance(listed, list) or len(listed) > MAX_SKUS:
                raise HttpError(400, f"skus must be a list of at most {MAX_SKUS} SKUs")
            skus += [s for s in (_sku(v, "skus[]") for v in listed) if s is not None]
        value = body.get("value")
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            raise HttpError(400, "value must be a non-negative number")
        currency = body.get("currency")
        if currency is not None and not (
            isinstance(currency, str) and _CURRENCY.fullmatch(currency)
        ):
            raise HttpError(400, "currency must be an ISO 4217 code such as EUR")
        order = _text(body, "order_id", MAX_ID)
        if body.get("order_id") is not None and order is None:
            raise HttpError(400, f"order_id must be a string of at most {MAX_ID} characters")
        amount = float(value) if value is not None else None
        distinct: list[str | None] = list(dict.fromkeys(skus))
        return [
            ShopEvent(
                "purchase", now, s, self._category(s) if s else None, None, amount, order, currency
            )
            for s in (distinct or [None])
        ]

    def _category(self, sku: str) -> str | None:
        product = self.product(sku)
        return product.category or None if product is not None else None


def _unauthorized(reason: str) -> HttpError:
    # RFC 6750 §3: a 401 names the scheme the client must use.
    return HttpError(401, reason, {"www-authenticate": 'Bearer realm="consentgate events"'})


def _not_recorded(reason: str) -> Response:
    return JSONResponse({"recorded": False, "reason": reason}, 202)


def _text(body: dict[str, Any], key: str, limit: int) -> str | None:
    value = body.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # order ids are often numbers
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        return None
    return value.strip()


def _sku(value: object, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _SKU.fullmatch(value):
        raise HttpError(400, f"{name} must be a SKU of letters, digits and ._:/- (at most 64)")
    return value


def _identity(body: dict[str, Any]) -> str:
    """The normalized customer identity of an identify event (never stored as is)."""
    customer = _text(body, "customer_id", MAX_ID)
    if customer is not None:
        return "id:" + customer
    email = _text(body, "email", MAX_EMAIL)
    if email is not None and "@" in email:
        # Case-folded: the same mailbox typed twice must give the same pseudonym.
        return "email:" + email.lower()
    raise HttpError(400, "an identify event needs a customer_id or an email")


def _with_order(event: ShopEvent, order: str) -> ShopEvent:
    return ShopEvent(
        event.type,
        event.ts,
        event.sku,
        event.category,
        event.country,
        event.order_value,
        order,
        event.currency,
    )
