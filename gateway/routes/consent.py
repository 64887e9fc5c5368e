"""The visitor-facing `/_privacy` endpoints: consent state, choices, the preference center and
`/.well-known/gpc.json` (contract: "HTTP, on the gateway's own address").

Every endpoint acts only on the requesting visitor (identified by their own cookie). Posts are
refused cross-site: a foreign `Origin` or `Sec-Fetch-Site` is a 403; without `Origin`, a CSRF
token bound to this visitor and action is required (OWASP CSRF cheat sheet: verify the
origin, then a token).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from audit.log import AuditError, SubjectErased
from consent.banner import HistoryRow, PreferencesView, render_preferences, text_hash
from consent.choice_kind import choice_kind, held_by_gpc
from consent.state import (
    ConsentRecord,
    Method,
    action_choices,
    choice_record,
    gpc_conflicts,
    resolve,
)
from consent.store import SubjectGone
from gateway.http.body import media_type, parse_form, parse_json_object, read_body
from gateway.http.errors import HttpError, unavailable
from gateway.http.forwarded import resolve_scope
from gateway.http.origin import refuse_cross_site
from gateway.http.rate_limit import RateLimiter
from gateway.proxy.exchange import Enforcement, purpose_views
from gateway.proxy.visitor import Visitor
from policies.purposes import gpc_purposes
from storage.store import STORE_FAULTS

log = logging.getLogger("consentgate.privacy")

MAX_BODY = 16 * 1024
MAX_RETURN_TO = 2048
GPC_LAST_UPDATE = "2026-11-23"
_FORM_METHODS: dict[str | None, Method] = {"banner": "banner", "preferences": "preferences"}


@dataclass(frozen=True)
class ChoiceRequest:
    """A consent choice as posted, JSON or form, checked and normalized."""

    choices: Mapping[str, bool]  # purpose id -> granted
    method: Method
    confirm: bool  # the visitor confirmed a choice that overrides GPC
    return_to: str | None  # redirect there after recording; None answers JSON
    back: str  # the preference center's "Back to the shop" target
    token: str | None  # the CSRF token sent with it
    language: str  # of the banner or page the choice was made on


NOT_CONFIRMED = "consent store unavailable; the choice was not confirmed, please try again"

# Called after a choice is durable: (visitor, previous record, new record). The audit log
# plugs in here.
OnRecord = Callable[[Visitor, ConsentRecord | None, ConsentRecord], Awaitable[None]]


def safe_return_to(value: str | None) -> str:
    """A same-origin path to redirect to; anything else becomes "/" (no open redirect)."""
    if (
        not value
        or len(value) > MAX_RETURN_TO
        or not value.startswith("/")
        or value.startswith(("//", "/\\"))
        or any(c in value for c in "\r\n\t\x00\\")
    ):
        return "/"
    return value


def shop_return(value: str | None, prefix: str) -> str:
    """Where "Back to the shop" goes: a same-origin storefront path, else "/" (a path under
    the gateway's own prefix is no page of the shop)."""
    path = safe_return_to(value)
    if path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] in "/?#"):
        return "/"
    return path


class PrivacyApi:
    """Route handlers over one `Enforcement` (config, visitor resolver, CSRF tokens)."""

    def __init__(self, enforcement: Enforcement, on_record: OnRecord | None = None) -> None:
        self.enforcement = enforcement
        self.config = enforcement.config
        self.resolver = enforcement.resolver
        self.on_record = on_record
        self.prefix = enforcement.prefix
        self.limiter = RateLimiter(self.config.consent.rate_per_minute)

    def routes(self) -> list[Route]:
        """The Starlette routes this module answers."""
        p = self.prefix
        return [
            Route(f"{p}/consent", self.get_consent, methods=["GET", "HEAD"]),
            Route(f"{p}/consent", self.post_consent, methods=["POST"]),
            Route(f"{p}/preferences", self.preferences, methods=["GET", "HEAD"]),
            Route("/.well-known/gpc.json", self.gpc_json, methods=["GET", "HEAD"]),
        ]

    async def visitor(self, request: Request) -> Visitor:
        """The requesting visitor (their own cookie, their own address)."""
        return await self.resolver.resolve_scope(request.scope)

    def _with_cookie(self, response: Response, visitor: Visitor) -> Response:
        if visitor.set_cookie is not None:
            response.headers.append("set-cookie", visitor.set_cookie)
        response.headers["cache-control"] = "no-store"
        return response

    # --- GET /.well-known/gpc.json ------------------------------------------------------

    async def gpc_json(self, request: Request) -> Response:
        """GPC spec §4.1: the site declares that it honours the signal."""
        return JSONResponse(
            {"gpc": True, "lastUpdate": GPC_LAST_UPDATE},
            headers={"cache-control": "public, max-age=86400"},
        )

    # --- GET /consent -------------------------------------------------------------------

    async def get_consent(self, request: Request) -> Response:
        """This visitor's state (contract fields)."""
        visitor = await self.visitor(request)
        response = JSONResponse(visitor.state.to_json())
        # For API clients that send no Origin; bound to this visitor (`CsrfTokens`).
        response.headers["x-csrf-token"] = self.enforcement.csrf.mint(
            "consent", visitor.visitor_id, visitor.view.client, datetime.now(UTC)
        )
        return self._with_cookie(response, visitor)

    # --- POST /consent ------------------------------------------------------------------

    def _parse(self, request: Request, body: bytes, visitor: Visitor) -> ChoiceRequest:
        """A JSON or form post as a `ChoiceRequest`; `HttpError` says what is wrong."""
        ctype = media_type(request)
        if ctype == "application/json":
            return self._parse_json(body, request, visitor)
        if ctype == "application/x-www-form-urlencoded":
            return self._parse_form(body, visitor)
        raise HttpError(415, "send application/json or a form (application/x-www-form-urlencoded)")

    def _parse_json(self, body: bytes, request: Request, visitor: Visitor) -> ChoiceRequest:
        data = parse_json_object(body)
        unknown = set(data) - {"purposes", "action", "confirm_gpc_override"}
        if unknown:
            raise HttpError(400, f"unknown field(s): {', '.join(sorted(map(str, unknown)))}")
        confirm = data.get("confirm_gpc_override", False)
        if not isinstance(confirm, bool):
            raise HttpError(400, "confirm_gpc_override must be true or false")
        if ("purposes" in data) == ("action" in data):
            raise HttpError(400, "send exactly one of 'purposes' or 'action'")
        if "action" in data:
            choices = self._action(data["action"], visitor)
        else:
            purposes = data["purposes"]
            if not isinstance(purposes, dict) or not all(
                isinstance(k, str) and isinstance(v, bool) for k, v in purposes.items()
            ):
                raise HttpError(400, "purposes must map purpose ids to true/false")
            choices = purposes
        return ChoiceRequest(
            choices=choices,
            method="api",
            confirm=confirm,
            return_to=None,
            back="/",
            token=request.headers.get("x-csrf-token"),
            language=visitor.language,
        )

    def _action(self, action: object, visitor: Visitor) -> dict[str, bool]:
        if action in ("accept_all", "reject_all"):
            return action_choices(self.config, visitor.regime, action)
        if action == "opt_out_sale_sharing":
            # CCPA §1798.120: the "Do Not Sell or Share" link refuses what GPC would refuse.
            switchable = action_choices(self.config, visitor.regime, "reject_all")
            return {pid: False for pid in gpc_purposes(self.config) if pid in switchable}
        raise HttpError(400, "action must be accept_all, reject_all or opt_out_sale_sharing")

    def _parse_form(self, body: bytes, visitor: Visitor) -> ChoiceRequest:
        form = parse_form(body, max_fields=64)

        def one(name: str) -> str | None:
            values = form.get(name)
            return values[0] if values else None

        action = one("action") or "save"
        if action == "save":
            checked = set(form.get("purpose", []))
            known = {p.id for p in self.config.purposes}
            if not checked <= known:
                raise HttpError(400, f"unknown purpose(s): {', '.join(sorted(checked - known))}")
            switchable = action_choices(self.config, visitor.regime, "reject_all")
            choices = {pid: pid in checked for pid in switchable}
        else:
            choices = self._action(action, visitor)
        method = one("method")
        language = one("lang")
        return ChoiceRequest(
            choices=choices,
            method=_FORM_METHODS.get(method, "banner"),
            confirm=one("confirm_gpc_override") == "1",
            return_to=safe_return_to(one("return_to")),
            back=shop_return(one("back"), self.prefix),
            token=one("csrf"),
            language=language if language in ("en", "ar", "th") else visitor.language,
        )

    async def post_consent(self, request: Request) -> Response:
        """Record a choice (append-only), durable before the response confirms it."""
        try:
            self._limit(request)
            visitor = await self.visitor(request)
            if visitor.degraded:
                raise unavailable("consent store unavailable; nothing was recorded")
            parsed = self._parse(request, await read_body(request, MAX_BODY), visitor)
            token, csrf = parsed.token, self.enforcement.csrf
            refuse_cross_site(
                request,
                visitor.view.origin,
                lambda: csrf.check(
                    token, "consent", visitor.visitor_id, visitor.view.client, datetime.now(UTC)
                ),
            )
            if "application/json" in request.headers.get("accept", ""):
                # The banner's script posts the form with fetch: answer JSON, not a redirect
                # the browser would follow (a second, needless page load through the shop).
                parsed = dataclasses.replace(parsed, return_to=None)
            return await self._record(visitor, parsed)
        except HttpError as exc:
            return exc.response()

    def _limit(self, request: Request) -> None:
        # Checked before the visitor is resolved: a flood costs no store round trip.
        view = resolve_scope(request.scope, self.resolver.trusted)
        self.limiter.check(
            view.client, "too many consent choices from your address; try again later"
        )

    async def _record(self, visitor: Visitor, parsed: ChoiceRequest) -> Response:
        now = datetime.now(UTC)
        language = parsed.language
        shown = self.enforcement.banner_view(
            _in_language(visitor, language), parsed.return_to or "/"
        )
        method = parsed.method
        try:
            record = choice_record(
                self.config,
                visitor.regime,
                visitor.latest,
                parsed.choices,
                method=method,
                shown_text_hash=text_hash(shown),
                language=language,
                gpc=visitor.gpc,
                now=now,
                confirmed_gpc_override=parsed.confirm,
            )
        except ValueError as exc:
            raise HttpError(400, str(exc)) from None
        previous = visitor.latest
        try:
            subject = await self.resolver.ensure_subject(visitor, now)
            assert self.resolver.consent is not None  # ensure_subject raised otherwise
            await self.resolver.consent.append(subject.id, record)
            if self.on_record is not None:
                await self.on_record(visitor, previous, record)
        except (SubjectGone, SubjectErased):
            # The same visitor's erasure won the race (before the record, or between it and
            # its audit entry, and the erasure deleted the record): no one to record it for.
            raise HttpError(
                409, "this browser's data was erased meanwhile; nothing was recorded"
            ) from None
        except (*STORE_FAULTS, AuditError) as exc:
            # Locked by another process, disk full, connection lost: a refusal the visitor can
            # retry, never a confirmation (tests/gateway/faults provoke each against a server).
            log.warning("consent choice not confirmed: %s", type(exc).__name__)
            raise unavailable(NOT_CONFIRMED) from None
        visitor.latest = record
        visitor.state = resolve(self.config, visitor.regime, record, visitor.gpc, now, subject.ref)
        if parsed.return_to is not None:
            target = parsed.return_to
            if method == "preferences":
                target = f"{self.prefix}/preferences?saved=1"
                if parsed.back != "/":
                    # Keeps "Back to the shop" pointing where the visitor came from.
                    target += "&return_to=" + quote(parsed.back, safe="/")
            # 303: the browser follows with a GET (RFC 9110 §15.4.4).
            return self._with_cookie(RedirectResponse(target, status_code=303), visitor)
        body: dict[str, object] = visitor.state.to_json()
        pending = gpc_conflicts(self.config, parsed.choices, visitor.gpc)
        if pending and not parsed.confirm:
            # 11 CCR §7025(c)(3): a choice that conflicts with GPC needs the visitor's
            # confirmation; until then GPC wins.
            body["gpc_confirmation_required"] = sorted(pending)
        response = JSONResponse(body)
        # The visitor may have just got their cookie, which the token they sent is not bound
        # to: hand the API client the one for their next post.
        response.headers["x-csrf-token"] = self.enforcement.csrf.mint(
            "consent", visitor.visitor_id, visitor.view.client, now
        )
        return self._with_cookie(response, visitor)

    # --- GET /preferences ---------------------------------------------------------------

    async def preferences(self, request: Request) -> Response:
        """The preference center: current choices, their history, and the controls."""
        visitor = await self.visitor(request)
        history: list[ConsentRecord] = []
        if visitor.subject is not None and self.resolver.consent is not None:
            history = await self.resolver.consent.history(visitor.subject.id)
        now = datetime.now(UTC)
        client = visitor.view.client
        purposes = purpose_views(self.config, visitor.state, visitor.language)
        names = {p.id: p.name for p in purposes}
        refused_by_gpc = gpc_purposes(self.config)
        # What the visitor allowed but GPC keeps off right now: the page must say so rather
        # than report the choice as saved as made (11 CCR §7025(c)(3): GPC wins unconfirmed).
        held_now = (
            held_by_gpc(visitor.latest, refused_by_gpc)
            if visitor.latest is not None and visitor.gpc
            else frozenset()
        )
        held_now = frozenset(pid for pid in held_now if not visitor.state.purposes.get(pid))
        view = PreferencesView(
            language=visitor.language,
            regime=visitor.regime,
            policy_version=self.config.policy.version,
            purposes=purposes,
            history=history_rows(history, refused_by_gpc, names),
            subject_ref=visitor.subject.ref if visitor.subject else None,
            gpc_honored=visitor.state.gpc_honored,
            prefix=self.prefix,
            csrf=self.enforcement.csrf.mint("consent", visitor.visitor_id, client, now),
            csrf_delete=(
                self.enforcement.csrf.mint("delete", visitor.visitor_id, client, now)
                if visitor.subject is not None
                else ""
            ),
            saved=request.query_params.get("saved") == "1",
            held_by_gpc=[names[pid] for pid in names if pid in held_now],
            back_url=shop_return(request.query_params.get("return_to"), self.prefix),
            policy_url=self.config.policy.privacy_policy_url,
        )
        return self._with_cookie(HTMLResponse(render_preferences(view)), visitor)


def history_rows(
    history: list[ConsentRecord], refused_by_gpc: frozenset[str], names: Mapping[str, str]
) -> list[HistoryRow]:
    """The records, newest first, as the customer reads them: what each choice was (given,
    refused, withdrawn...), what took effect, and what GPC kept refused although ticked."""

    def named(ids: frozenset[str]) -> list[str]:
        return [name for pid, name in names.items() if pid in ids] + sorted(ids - names.keys())

    rows: list[HistoryRow] = []
    previous: ConsentRecord | None = None
    for r in history:
        held = held_by_gpc(r, refused_by_gpc)
        rows.append(
            HistoryRow(
                ts=r.ts.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                method=r.method,
                granted=named(r.granted - held),
                denied=named(r.denied),
                kind=choice_kind(previous, r, refused_by_gpc),
                held=named(held),
            )
        )
        previous = r
    rows.reverse()
    return rows


def _in_language(visitor: Visitor, language: str) -> Visitor:
    if language == visitor.language:
        return visitor
    from dataclasses import replace

    return replace(visitor, language=language)
