"""Self-service data-subject requests: `GET /_privacy/my-data` and
`POST /_privacy/my-data/delete` (contract "HTTP, on the gateway's own address").

Only the requesting visitor's own data, identified by their own cookie (`gateway.proxy.visitor`).
The export is a JSON download (`?format=html`: the same content as a page). Erasure needs an
explicit confirmation (form `confirm=yes`, JSON `{"confirm": true}`; `GET
/_privacy/my-data/delete` shows the confirmation form) and is refused cross-site exactly like
a consent post (`gateway.http.origin`: Origin, then Sec-Fetch-Site, then the CSRF
token, which here must be one minted for erasure by this visitor's own cookie). Both are
rate-limited per client address (`dsr.rate_per_minute`, a token bucket): each export appends
to the audit log and signs a checkpoint.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from dsr.service import DsrService
from gateway.http.body import media_type, parse_form, parse_json_object, read_body
from gateway.http.errors import HttpError, unavailable
from gateway.http.forwarded import resolve_scope
from gateway.http.origin import refuse_cross_site
from gateway.http.rate_limit import RateLimiter
from gateway.proxy.exchange import Enforcement
from gateway.proxy.visitor import Visitor
from gateway.routes.dsr_page import render_bundle, render_confirm, render_erased

NO_SUBJECT = "no data is stored for this browser (it has made no consent choice)"
STORE_DOWN = "the store is not available; try again shortly"
# The erasure confirmation: `confirm` and `csrf`; a few more fields are tolerated.
MAX_BODY = 16 * 1024
MAX_FORM_FIELDS = 16


ServiceSource = Callable[[], DsrService | None]


class DsrApi:
    """Route handlers; ``service()`` is None while the store is not open (503)."""

    def __init__(self, enforcement: Enforcement, service: ServiceSource) -> None:
        self.enforcement = enforcement
        self.resolver = enforcement.resolver
        self.prefix = enforcement.prefix
        self.service = service
        self.limiter = RateLimiter(enforcement.config.dsr.rate_per_minute)

    def routes(self) -> list[Route]:
        """The Starlette routes this module answers."""
        p = self.prefix
        return [
            Route(f"{p}/my-data", self.my_data, methods=["GET"]),
            Route(f"{p}/my-data/delete", self.confirm_page, methods=["GET"]),
            Route(f"{p}/my-data/delete", self.delete, methods=["POST"]),
        ]

    # --- shared ---------------------------------------------------------------------------

    def _limit(self, request: Request) -> None:
        view = resolve_scope(request.scope, self.resolver.trusted)
        self.limiter.check(view.client, "too many data requests from your address; try again later")

    def _service(self) -> DsrService:
        service = self.service()
        if service is None:
            raise unavailable(STORE_DOWN)
        return service

    async def _visitor(self, request: Request) -> Visitor:
        visitor = await self.resolver.resolve_scope(request.scope)
        if visitor.degraded:
            raise unavailable(STORE_DOWN)
        return visitor

    # --- GET /my-data ---------------------------------------------------------------------

    async def my_data(self, request: Request) -> Response:
        """This visitor's bundle: a JSON download, or a page with ``?format=html``."""
        try:
            fmt = request.query_params.get("format", "json")
            if fmt not in ("json", "html"):
                raise HttpError(400, "format must be json or html")
            self._limit(request)
            service = self._service()
            visitor = await self._visitor(request)
            if visitor.subject is None:
                raise HttpError(404, NO_SUBJECT)
            bundle = await service.export(
                visitor.subject, actor="subject", via="self-service", regime=visitor.regime
            )
        except HttpError as exc:
            return _private(exc.response())
        if fmt == "html":
            page = render_bundle(
                bundle,
                json_url=f"{self.prefix}/my-data",
                delete_url=f"{self.prefix}/my-data/delete",
            )
            return _private(HTMLResponse(page))
        body = json.dumps(bundle, ensure_ascii=False, indent=2).encode("utf-8")
        response = Response(body, media_type="application/json")
        # RFC 6266: a download, named after the reference (only [A-Z2-7-] characters).
        response.headers["content-disposition"] = (
            f'attachment; filename="my-data-{bundle["subject_ref"]}.json"'
        )
        return _private(response)

    # --- GET /my-data/delete --------------------------------------------------------------

    async def confirm_page(self, request: Request) -> Response:
        """The confirmation form for a self-service erasure."""
        try:
            visitor = await self._visitor(request)
        except HttpError as exc:
            return _private(exc.response())
        if visitor.subject is None:
            return _private(HttpError(404, NO_SUBJECT).response())
        # Bound to this visitor's cookie and to erasure (`CsrfTokens`): no other page's token
        # can erase anyone.
        csrf = self.enforcement.csrf.mint(
            "delete", visitor.visitor_id, visitor.view.client, datetime.now(UTC)
        )
        page = render_confirm(
            action=f"{self.prefix}/my-data/delete", csrf=csrf, back=f"{self.prefix}/preferences"
        )
        response = HTMLResponse(page)
        response.headers["x-csrf-token"] = csrf  # for API clients that send no Origin
        return _private(response)

    # --- POST /my-data/delete -------------------------------------------------------------

    async def delete(self, request: Request) -> Response:
        """Erase this visitor after confirmation; clears the visitor id cookie."""
        try:
            self._limit(request)
            service = self._service()
            visitor = await self._visitor(request)
            body = await read_body(request, MAX_BODY)
            confirmed, token, wants_json = _parse_confirm(request, body)
            csrf = self.enforcement.csrf
            refuse_cross_site(
                request,
                visitor.view.origin,
                lambda: csrf.check(
                    token, "delete", visitor.visitor_id, visitor.view.client, datetime.now(UTC)
                ),
            )
            if visitor.subject is None:
                raise HttpError(404, NO_SUBJECT)
            if not confirmed:
                raise HttpError(
                    400, 'confirmation required: send confirm=yes (form) or {"confirm": true}'
                )
            ref = visitor.subject.ref
            await service.erase(
                visitor.subject, actor="subject", via="self-service", regime=visitor.regime
            )
        except HttpError as exc:
            return _private(exc.response())
        response: Response
        if wants_json:
            response = JSONResponse({"erased": True, "subject_ref": ref})
        else:
            response = HTMLResponse(render_erased(ref))
        response.headers.append("set-cookie", self._expired_cookie(visitor))
        return _private(response)

    def _expired_cookie(self, visitor: Visitor) -> str:
        # RFC 6265 §3.1: the same name, path and attributes with Max-Age=0 removes it.
        value = f"{self.resolver.cookie_name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
        return value + "; Secure" if visitor.view.proto == "https" else value


def _private(response: Response) -> Response:
    # Personal data: never cached anywhere, never sniffed into something else.
    response.headers["cache-control"] = "no-store"
    response.headers["x-content-type-options"] = "nosniff"
    return response


def _parse_confirm(request: Request, body: bytes) -> tuple[bool, str | None, bool]:
    """(confirmed, CSRF token, answer in JSON) from a JSON or form body."""
    ctype = media_type(request)
    if ctype == "application/json":
        data = parse_json_object(body or b"{}")
        confirm = data.get("confirm", False)
        if not isinstance(confirm, bool):
            raise HttpError(400, "confirm must be true or false")
        return confirm, request.headers.get("x-csrf-token"), True
    if ctype in ("application/x-www-form-urlencoded", ""):
        form = parse_form(body, MAX_FORM_FIELDS)
        confirm_values = form.get("confirm", [])
        tokens = form.get("csrf")
        token = tokens[0] if tokens else None
        wants_json = "application/json" in request.headers.get("accept", "")
        return confirm_values == ["yes"], token, wants_json
    raise HttpError(415, "send application/json or a form (application/x-www-form-urlencoded)")
