"""Consent enforced on the server, per request: the proxy's `Exchange`.

For each proxied request: the upstream learns the visitor's consent state (a header, so the
shop can respect it too); the response loses `Set-Cookie`s of ungranted purposes and `Link`
fields toward their hosts (`link_headers.py`), and gains the visitor cookie when one was just
created; HTML runs through prior blocking (and placeholders for the frames it blocked), Google
Consent Mode, the banner (only when a choice is owed), the "Your Privacy Choices" link
(visitors who may opt out of sale/sharing) and slot filling. A rewritten page depends on who
asked, so it is `Cache-Control: private` with `Vary: Cookie`, and it gets the
Content-Security-Policy of the visitor's consent state (`gateway.csp`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import quote

from starlette.types import Scope

from consent.banner import BannerView, PurposeView, render_banner
from consent.choices_link import render_choices_link
from consent.cookies import CookieFilter
from consent.language import SUPPORTED
from consent.state import ConsentState
from gateway.csp.policy import CspPolicies, inline_scripts
from gateway.html.stage import Stage
from gateway.http.cookies import without_console_cookies
from gateway.http.forwarded import View
from gateway.http.rate_limit import network_of
from gateway.personalization.preview_links import HEADER as PREVIEW_HEADER
from gateway.personalization.preview_links import PreviewLinks, PreviewStatus
from gateway.personalization.slots import Personalization, Prepared
from gateway.proxy.link_headers import filter_links
from gateway.proxy.visitor import Visitor, VisitorResolver
from gateway.stages.consent_mode import (
    consent_mode_defaults,
    consent_mode_update,
    snippet,
)
from gateway.stages.registry import STAGES
from gateway.stages.url_host import url_host
from policies.models import Config
from policies.purposes import HostIndex, gpc_purposes

log = logging.getLogger("consentgate.enforcement")

Field = tuple[bytes, bytes]
# A return path longer than this is left off the choices link (routes.consent.MAX_RETURN_TO).
MAX_RETURN_PATH = 2048


def consent_header_value(state: ConsentState, gpc: bool) -> str:
    """The visitor's state as an RFC 8941 dictionary, e.g.
    `regime="gdpr", gpc=?0, essential, analytics=?0` (a bare key is true)."""
    items = [f'regime="{state.regime}"', "gpc" if gpc else "gpc=?0"]
    items += [pid if on else f"{pid}=?0" for pid, on in state.purposes.items()]
    return ", ".join(items)


def purpose_views(config: Config, state: ConsentState, language: str) -> list[PurposeView]:
    """The configured purposes as the banner and preference center show them."""
    return [
        PurposeView(
            id=p.id,
            name=getattr(p.names, language),
            description=getattr(p.descriptions, language),
            granted=state.purposes.get(p.id, False),
            locked=p.mechanism_in(state.regime) == "notice_only",
        )
        for p in config.purposes
    ]


CsrfAction = Literal["consent", "delete"]


def csrf_binding(visitor_id: str | None, client: str) -> str:
    """Who a visitor CSRF token belongs to: the visitor's own cookie value; for a visitor
    without one (a first-time gdpr visitor before any choice, who must not get an identifier
    yet) the pseudonymized network the request came from (`rate_limit.network_of`)."""
    if visitor_id is not None:
        return "v:" + visitor_id
    return "n:" + network_of(client)


class CsrfTokens:
    """Stateless CSRF tokens: HMAC-SHA256(key, action ‖ day ‖ binding), 128 bits in hex, valid
    the day minted and the next.

    OWASP CSRF cheat sheet: verify the origin with standard headers, then a token; a stateless
    token must be an HMAC bound to the session (its "signed double-submit cookie"), here the
    visitor cookie (`csrf_binding`), so a token handed to one visitor (or to none) never
    vouches for a post carrying another's cookie. It is also bound to the action, so a token
    from the banner or the preference center cannot erase anyone. A request without a visitor
    cookie has only its network to be bound to ("login CSRF": the form that creates the
    identity); such a token works only without a cookie, from the same network, and never
    for an erasure (nothing to erase)."""

    def __init__(self, key: bytes) -> None:
        self._key = hashlib.sha256(b"consentgate csrf\x00" + key).digest()

    def _mint(self, action: CsrfAction, binding: str, day: int) -> str:
        data = f"{action}\x00{day}\x00{binding}".encode("utf-8", "surrogateescape")
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()[:32]

    def mint(self, action: CsrfAction, visitor_id: str | None, client: str, now: datetime) -> str:
        """The token for `action` by this visitor (their cookie value, or their network
        while they have none)."""
        binding = csrf_binding(visitor_id, client)
        return self._mint(action, binding, int(now.timestamp()) // 86400)

    def check(
        self,
        token: str | None,
        action: CsrfAction,
        visitor_id: str | None,
        client: str,
        now: datetime,
    ) -> bool:
        """True if `token` was minted today or yesterday for `action` by this very visitor."""
        if not token or (action == "delete" and visitor_id is None):
            return False
        # compare_digest raises TypeError on non-ASCII str; compare bytes (a form field is any
        # UTF-8 text). Found by the consent API properties (test_consent_api_properties.py).
        given = token.encode("utf-8", "surrogateescape")
        binding = csrf_binding(visitor_id, client)
        today = int(now.timestamp()) // 86400
        return any(
            hmac.compare_digest(given, self._mint(action, binding, d).encode())
            for d in (today, today - 1)
        )


class ConsentExchange:
    """One request's enforcement (implements `gateway.proxy.streaming.Exchange`)."""

    def __init__(
        self,
        owner: Enforcement,
        visitor: Visitor,
        scope: Scope,
        prepared: Prepared | None,
        preview: PreviewStatus | None = None,
    ) -> None:
        self.owner = owner
        self.visitor = visitor
        self.scope = scope
        self.prepared = prepared
        self.preview = preview
        #: Served over https (as the client asked, `gateway.http.forwarded`): the CSP may name
        #: `report-to`.
        self.secure = False

    def upstream_fields(self) -> list[tuple[str, str]]:
        """The consent-state header (config `consent.upstream_header`)."""
        state = consent_header_value(self.visitor.state, self.visitor.gpc)
        return [(self.owner.config.consent.upstream_header, state)]

    def request_fields(self, fields: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The console's session cookie never reaches the shop (on https its `__Host-` cookie
        has Path=/, so browsers send it with storefront requests too), nor does a client's own
        copy of the consent-state header (a forged consent; only ours, added after, counts)."""
        ours = self.owner.consent_header
        out = []
        for name, value in fields:
            if name.lower() == ours:
                continue
            if name.lower() == "cookie":
                value = without_console_cookies(value)
                if not value:
                    continue
            out.append((name, value))
        return out

    def response_fields(self, fields: list[Field], rewritten: bool) -> list[Field]:
        """Drop Set-Cookies of ungranted purposes and Link fields toward their hosts; add
        ours; make rewritten pages private."""
        granted = self.visitor.state.purposes
        out: list[Field] = []
        for name, value in fields:
            low = name.lower()
            if low == b"set-cookie" and self.owner.cookies.should_drop(
                value.decode("latin-1"), granted
            ):
                continue  # contract: dropped while its purpose is not granted
            if low == b"link" and self.owner.config.purposes:
                # RFC 8288: a preload/preconnect hint reaches the host before the page does.
                kept = filter_links(value.decode("latin-1"), self._blocked_url)
                if kept is None:
                    continue
                value = kept.encode("latin-1")
            if (rewritten or self.preview is not None) and low == b"cache-control":
                continue  # replaced below
            out.append((name, value))
        if self.visitor.set_cookie is not None:
            out.append((b"set-cookie", self.visitor.set_cookie.encode("latin-1")))
        if self.preview is not None:
            # A preview (or a refused one) is one operator's view: no cache keeps it.
            out.append((b"cache-control", b"private, no-store"))
            out.append((PREVIEW_HEADER, self.preview.header_value()))
        elif rewritten:
            # Contract: no shared cache may serve one visitor's page to another.
            out.append((b"cache-control", b"private, no-cache"))
        if rewritten:
            out.append((b"vary", b"Cookie"))
            # Ours next to the shop's own, which stays (CSP3 "The effect of multiple policies").
            out.extend(self.owner.csp.fields(self.visitor.state.granted, fields, self.secure))
        return out

    def _blocked_url(self, url: str) -> bool:
        """Whether `url` is on a host a purpose lists that this visitor has not granted (a
        relative URL is on the shop's own host)."""
        host = url_host(url)
        if host is None:
            return False
        granted = self.visitor.state.purposes
        return any(granted.get(p) is not True for p in self.owner.hosts.purposes_for(host))

    def stages(self) -> Sequence[Stage]:
        """This page's stages, in the registry's order (`gateway.stages.registry.STAGES`)."""
        return [stage for _, factory in STAGES for stage in factory(self)]


class Enforcement:
    """Built once per app: the proxy's exchange factory."""

    def __init__(
        self,
        config: Config,
        resolver: VisitorResolver,
        csrf: CsrfTokens,
        personalization: Personalization | None = None,
        previews: PreviewLinks | None = None,
    ) -> None:
        self.config = config
        # Lower-cased once: request_fields drops any client copy of it on every request.
        self.consent_header = config.consent.upstream_header.lower()
        self.resolver = resolver
        self.csrf = csrf
        self.personalization = personalization
        self.previews = previews
        self.hosts = HostIndex.build(config.purposes)
        self.cookies = CookieFilter.build(config.purposes)
        self.prefix = config.gateway.prefix
        # Computed once: the defaults depend only on the config.
        self.consent_mode_defaults = (
            consent_mode_defaults(config) if config.consent_mode.enabled else None
        )
        self.choices_link_regimes = choices_link_regimes(config)
        # Per banner language (a handful), built on first use.
        self._purpose_names: dict[str, dict[str, str]] = {}
        # One snippet per distinct update (a handful of consent states), built once.
        self._consent_mode_snippets: dict[tuple[tuple[str, str], ...], str] = {}
        # An enforced policy is fixed per page: a grant made on it takes effect by a reload.
        self.csp_enforced = config.csp.mode == "enforce"
        self.csp = CspPolicies(
            config.csp,
            config.purposes,
            f"{self.prefix}/csp-report",
            static_scripts=self._injected_scripts(),
            state_scripts=(
                self._consent_mode_scripts if self.consent_mode_defaults is not None else None
            ),
        )

    def _injected_scripts(self) -> list[str]:
        """The inline scripts the gateway may put into any page (banner with its activation
        script, choices link), whatever the language: their hashes go into the CSP."""
        texts: list[str] = []
        for language in SUPPORTED:
            view = BannerView(
                language=language,
                policy_version=self.config.policy.version,
                purposes=[],
                action=f"{self.prefix}/consent",
                return_to="/",
                csrf="0",
                preferences=f"{self.prefix}/preferences",
            )
            texts += inline_scripts(render_banner(view))
            texts += inline_scripts(render_choices_link(language, f"{self.prefix}/preferences"))
        return texts

    def _consent_mode_scripts(self, granted: frozenset[str]) -> list[str]:
        """The Consent Mode snippet's script for visitors who granted `granted`."""
        return inline_scripts(self.consent_mode_snippet(consent_mode_update(self.config, granted)))

    def purpose_names(self, language: str) -> Mapping[str, str]:
        """Purpose id → its name in `language` (as the banner shows it)."""
        names = self._purpose_names.get(language)
        if names is None:
            purposes = self.config.purposes
            names = {p.id: getattr(p.names, language, p.names.en) for p in purposes}
            self._purpose_names[language] = names
        return names

    def consent_mode_snippet(self, update: Mapping[str, str]) -> str:
        """The Consent Mode `<script>` for a visitor whose state gives `update`."""
        key = tuple(sorted(update.items()))
        html = self._consent_mode_snippets.get(key)
        if html is None:
            defaults = self.consent_mode_defaults or ()
            wait = self.config.consent_mode.wait_for_update
            html = snippet(defaults, update, wait_for_update=wait)
            if len(self._consent_mode_snippets) < 256:
                self._consent_mode_snippets[key] = html
        return html

    def banner_view(self, visitor: Visitor, return_to: str) -> BannerView:
        """What the banner shows this visitor (also what its text hash covers)."""
        return BannerView(
            language=visitor.language,
            policy_version=self.config.policy.version,
            purposes=purpose_views(self.config, visitor.state, visitor.language),
            action=f"{self.prefix}/consent",
            return_to=return_to,
            csrf=self.csrf.mint(
                "consent", visitor.visitor_id, visitor.view.client, datetime.now(UTC)
            ),
            preferences=f"{self.prefix}/preferences",
            reload_on_grant=self.csp_enforced,
        )

    def banner_html(self, visitor: Visitor, scope: Scope) -> str:
        """The rendered banner for this page."""
        query = scope.get("query_string", b"").decode("latin-1")
        return_to = scope["path"] + ("?" + query if query else "")
        return render_banner(self.banner_view(visitor, return_to))

    def choices_link_html(self, visitor: Visitor, scope: Scope) -> str:
        """The "Your Privacy Choices" link for this page: to the preference center, which
        links back here."""
        query = scope.get("query_string", b"").decode("latin-1")
        here = scope["path"] + ("?" + query if query else "")
        href = f"{self.prefix}/preferences"
        if here != "/" and len(here) <= MAX_RETURN_PATH:
            href += "?return_to=" + quote(here, safe="/")
        return render_choices_link(visitor.language, href)

    async def __call__(self, scope: Scope, peer: str, view: View) -> ConsentExchange:
        """The exchange for one request; never raises (fails closed on any error)."""
        try:
            visitor = await self.resolver.resolve(peer, view, scope["headers"])
        except Exception:
            log.exception("visitor resolution failed; enforcing the strictest defaults")
            visitor = self.resolver.fail_closed(view)
        preview = self.previews.status(scope) if self.previews is not None else None
        grant = preview.grant if preview is not None else None
        prepared = None
        if self.personalization is not None and self.personalization.active and _wants_html(scope):
            # Weather and profile are awaited here (bounded by the weather budget), before
            # the page streams; non-page requests (images, JSON) skip it.
            prepared = await self.personalization.prepare(visitor, grant)
        exchange = ConsentExchange(self, visitor, scope, prepared, preview)
        exchange.secure = view.proto == "https"
        return exchange


def choices_link_regimes(config: Config) -> frozenset[str]:
    """Regimes whose visitors get the "Your Privacy Choices" link (`consent.us_choices_link:
    auto`): those where a purpose GPC opts out of (sale/sharing) is opt_out, i.e. on until
    refused, so the visitor needs a way to refuse it on every page (Cal. Civ. Code
    §1798.135(a)). Under opt_in the banner already asks before anything is on."""
    if config.consent.us_choices_link == "off":
        return frozenset()
    sale = gpc_purposes(config)
    return frozenset(
        regime
        for regime in config.regimes
        if any(p.id in sale and p.mechanism_in(regime) == "opt_out" for p in config.purposes)
    )


def _wants_html(scope: Scope) -> bool:
    if scope.get("method") != "GET":
        return False
    for name, value in scope["headers"]:
        if name == b"accept":
            return b"text/html" in value or b"*/*" in value
    return True
