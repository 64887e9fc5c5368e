"""Who is asking: location, regime, identity and consent state for one request.

The I/O shell that joins the pure parts: `gateway.http.forwarded` (the client address, believed
only from trusted proxies), `personalization_rules.geo` and `policies.jurisdictions` (the
regime), `consent.pseudonyms` (the cookie → pseudonym), `consent.store` (the latest record)
and `consent.state` (what is granted now). Failure policy: consent enforcement fails closed —
when the store cannot be read, the visitor is treated as having no record (under gdpr every
opt-in purpose stays off) and nothing is written.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from typing import Any

from consent.language import negotiate_language
from consent.pseudonyms import new_visitor_id, parse_visitor_id
from consent.signals import gpc_requested
from consent.state import ConsentRecord, ConsentState, gpc_record, gpc_transition, resolve
from consent.store import ConsentStore, Subject
from gateway.http.forwarded import TrustedProxies, View, peer_of, resolve_scope
from gateway.http.rate_limit import RateLimiter
from personalization_rules.geo import GeoPlace, GeoReader
from policies.jurisdictions import location_from_headers, regime_for
from policies.models import Config

log = logging.getLogger("consentgate.visitor")

Field = tuple[bytes, bytes]
MAX_COOKIE_HEADER = 8192  # a longer Cookie header is hostile or broken: read no identity


@dataclass
class Visitor:
    """One request's visitor, as the proxy and the privacy routes see them."""

    view: View
    place: GeoPlace | None
    regime: str
    language: str
    gpc: bool
    visitor_id: str | None
    subject: Subject | None
    latest: ConsentRecord | None
    state: ConsentState
    # A Set-Cookie value to send (the visitor id was just created), or None.
    set_cookie: str | None = None
    # The store could not be read: consent is enforced from defaults (fail closed).
    degraded: bool = False


def _header(fields: list[Field], name: bytes) -> str | None:
    for key, value in fields:
        if key == name:
            return value.decode("latin-1")
    return None


def read_cookie(fields: list[Field], name: str) -> str | None:
    """The value of cookie `name` from the request's Cookie header(s), or None."""
    for key, value in fields:
        if key != b"cookie" or len(value) > MAX_COOKIE_HEADER:
            continue
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(value.decode("latin-1"))
        except Exception:  # http.cookies raises CookieError on hostile input
            continue
        if name in jar:
            return jar[name].value
    return None


def jurisdiction_location(
    config: Config, place: GeoPlace | None, edge: Iterable[tuple[str, str]] | None
) -> tuple[str | None, str | None]:
    """(country, subdivision) that choose the regime, raw for `regime_for`: the configured
    edge headers among `edge` (the request's headers, None unless from a trusted proxy) when
    they name a country, else the geo place's."""
    names = config.jurisdiction.edge_headers
    if edge is not None and (names.country or names.region):
        edge_country, edge_region = location_from_headers(edge, names)
        if edge_country:
            return edge_country, edge_region
    return (place.country, place.subdivision) if place else (None, None)


async def _no_audit(
    visitor: Visitor, previous: ConsentRecord | None, record: ConsentRecord
) -> None:
    return None


class VisitorResolver:
    """Built once per app; `resolve` runs per request."""

    def __init__(
        self,
        config: Config,
        trusted: TrustedProxies,
        geo: GeoReader | None,
        consent: ConsentStore | None,
    ) -> None:
        self.config = config
        self.trusted = trusted
        self.geo = geo
        self.consent = consent
        self.cookie_name = config.consent.cookie_name
        # Called after a GPC record is stored (the audit log plugs in here).
        self.on_record: Callable[[Visitor, ConsentRecord | None, ConsentRecord], Awaitable[None]]
        self.on_record = _no_audit
        # GPC records a client may cause per minute, across all the cookies it sends: the
        # same budget as explicit choices (`consent.rate_per_minute`). Over it the signal is
        # still honoured, only not written down again.
        self.gpc_writes = RateLimiter(config.consent.rate_per_minute)

    def cookie_header(self, visitor_id: str, secure: bool) -> str:
        """Set-Cookie for the visitor id: HttpOnly, SameSite=Lax, Secure on https."""
        max_age = self.config.consent.cookie_max_age_days * 86400
        value = f"{self.cookie_name}={visitor_id}; Path=/; Max-Age={max_age}"
        value += "; HttpOnly; SameSite=Lax"
        return value + "; Secure" if secure else value

    def locate(self, peer: str, view: View, fields: list[Field]) -> tuple[GeoPlace | None, str]:
        """(place, regime): trusted edge headers first, then the geo database."""
        place = self.geo.lookup(view.client) if self.geo is not None else None
        edge: Iterable[tuple[str, str]] | None = None
        if peer in self.trusted:
            edge = ((k.decode("latin-1"), v.decode("latin-1")) for k, v in fields)
        country, subdivision = jurisdiction_location(self.config, place, edge)
        return place, regime_for(country, subdivision, self.config)

    async def resolve_scope(self, scope: Mapping[str, Any]) -> Visitor:
        """The visitor behind a request to the gateway's own routes (their cookie, their
        address as the trusted proxies give it)."""
        view = resolve_scope(scope, self.trusted)
        return await self.resolve(peer_of(scope), view, scope["headers"])

    async def resolve(
        self, peer: str, view: View, fields: list[Field], now: datetime | None = None
    ) -> Visitor:
        """The visitor behind one request; writes a GPC record when the signal of a known
        subject changed (`consent.state.gpc_transition`)."""
        now = now or datetime.now(UTC)
        place, regime = self.locate(peer, view, fields)
        language = negotiate_language(_header(fields, b"accept-language"))
        gpc = gpc_requested(fields)
        visitor_id = parse_visitor_id(read_cookie(fields, self.cookie_name))
        subject: Subject | None = None
        latest: ConsentRecord | None = None
        degraded = self.consent is None
        if visitor_id is not None and self.consent is not None:
            try:
                subject, latest = await self.consent.lookup(visitor_id)
            except Exception as exc:
                # Fail closed: no readable consent state means nothing opt-in is granted.
                log.warning("consent store unreadable, enforcing defaults: %s", type(exc).__name__)
                subject, latest, degraded = None, None, True
        state = resolve(self.config, regime, latest, gpc, now, subject.ref if subject else None)
        visitor = Visitor(
            view,
            place,
            regime,
            language,
            gpc,
            visitor_id,
            subject,
            latest,
            state,
            degraded=degraded,
        )
        if (
            not degraded
            and gpc_transition(latest, gpc, has_subject=subject is not None, now=now)
            and self.gpc_writes.take(view.client) == 0
        ):
            await self._record_gpc(visitor, now)
        return visitor

    def fail_closed(self, view: View) -> Visitor:
        """A visitor for when resolution itself failed: unknown place (→ the strictest regime),
        no identity, nothing recorded, every opt-in purpose off."""
        regime = self.config.jurisdiction.unknown
        state = resolve(self.config, regime, None, True, datetime.now(UTC), None)
        return Visitor(view, None, regime, "en", True, None, None, None, state, degraded=True)

    async def _record_gpc(self, visitor: Visitor, now: datetime) -> None:
        # Only for a visitor who already has a subject, at most once per change of the signal
        # (consent.state.gpc_transition): GPC itself never creates a subject or a cookie.
        record = gpc_record(
            self.config,
            visitor.regime,
            visitor.latest,
            visitor.gpc,
            language=visitor.language,
            now=now,
        )
        subject = visitor.subject
        assert subject is not None and self.consent is not None
        try:
            await self.consent.append(subject.id, record)
            await self.on_record(visitor, visitor.latest, record)
        except Exception as exc:
            log.warning("could not record the GPC signal: %s", type(exc).__name__)
            return
        visitor.latest = record
        visitor.state = resolve(self.config, visitor.regime, record, visitor.gpc, now, subject.ref)

    async def ensure_subject(self, visitor: Visitor, now: datetime) -> Subject:
        """The visitor's subject, creating it (and a new visitor id cookie) if needed.

        Call only for an explicit choice: under gdpr no identifier is set before one, and a
        GPC signal alone never creates a subject (`consent.state.gpc_transition`).
        """
        if visitor.subject is not None:
            return visitor.subject
        if self.consent is None:
            raise RuntimeError("the consent store is not available")
        if visitor.visitor_id is None:
            visitor.visitor_id = new_visitor_id(os.urandom)
            secure = visitor.view.proto == "https"
            visitor.set_cookie = self.cookie_header(visitor.visitor_id, secure)
        visitor.subject = await self.consent.create_subject(visitor.visitor_id, now)
        return visitor.subject
