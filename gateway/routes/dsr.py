"""Self-service data-subject requests: `GET /_privacy/my-data` and
`POST /_privacy/my-data/delete` (contract "HTTP, on the gateway's own address").

Only the requesting visitor's own data, identified by their own cookie (`gateway.proxy.visitor`).
The export is a JSON download (`?format=html`: the same content as a page). Erasure needs an
explicit confirmation (form `confirm=yes`, JSON `{"confirm": true}`; `GET
/_privacy/my-data/delete` shows the confirmation form) and is refused cross-site exactly like
a consent post (`PrivacyApi._check_origin`: Origin, then Sec-Fetch-Site, then the CSRF
token, which here must be one minted for erasure by this visitor's own cookie). Both are
rate-limited per client address (`dsr.rate_per_minute`, a token bucket): each export appends
to the audit log and signs a checkpoint.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from dsr.service import DsrService
from gateway.http.forwarded import resolve as resolve_view
from gateway.http.rate_limit import RateLimited, RateLimiter
from gateway.proxy.exchange import Enforcement
from gateway.proxy.visitor import Visitor
from gateway.routes.consent import BadRequest, PrivacyApi
from gateway.routes.dsr_page import render_bundle, render_confirm, render_erased

NO_SUBJECT = "no data is stored for this browser (it has made no consent choice)"


ServiceSource = Callable[[], DsrService | None]


class DsrApi:
    """Route handlers; ``service()`` is None while the store is not open (503)."""

    def __init__(self, enforcement: Enforcement, service: ServiceSource) -> None:
        self.enforcement = enforcement
        self.resolver = enforcement.resolver
        self.prefix = enforcement.prefix
        self.service = service
        self.limiter = RateLimiter(enforcement.config.dsr.rate_per_minute)
        # The consent API's origin/CSRF check, so both refuse cross-site posts the same way.
        self._privacy = PrivacyApi(enforcement)

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
        peer = request.scope.get("client")
        peer_ip = peer[0] if peer else ""
        view = resolve_view(peer_ip, request.scope["scheme"], request.scope["headers"],
                            self.resolver.trusted)  # fmt: skip
        wait = self.limiter.take(view.client)
        if wait > 0:
            raise RateLimited(wait, "too many data requests from your address; try again later")

    def _service(self) -> DsrService:
        service = self.service()
        if service is None:
            raise BadRequest(503, "the store is not available; try again shortly")
        return service

    async def _visitor(self, request: Request) -> Visitor:
        visitor = await self._privacy.visitor(request)
        if visitor.degraded:
            raise BadRequest(503, "the store is not available; try again shortly")
        return visitor

    # --- GET /my-data ---------------------------------------------------------------------

    async def my_data(self, request: Request) -> Response:
        """This visitor's bundle: a JSON download, or a page with ``?format=html``."""
        try:
            fmt = request.query_params.get("format", "json")
            if fmt not in ("json", "html"):
                raise BadRequest(400, "format must be json or html")
            self._limit(request)
            service = self._service()
            visitor = await self._visitor(request)
            if visitor.subject is None:
                raise BadRequest(404, NO_SUBJECT)
            bundle = await service.export(
                visitor.subject, actor="subject", via="self-service", regime=visitor.regime
            )
        except RateLimited as exc:
            return exc.response()
        except BadRequest as exc:
            return _error(exc)
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
        except BadRequest as exc:
            return _error(exc)
        if visitor.subject is None:
            return _error(BadRequest(404, NO_SUBJECT))
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
            body = await self._privacy._body(request)
            confirmed, token, wants_json = _parse_confirm(request, body)
            self._privacy._check_origin(request, visitor, token, "delete")
            if visitor.subject is None:
                raise BadRequest(404, NO_SUBJECT)
            if not confirmed:
                raise BadRequest(
                    400, 'confirmation required: send confirm=yes (form) or {"confirm": true}'
                )
            ref = visitor.subject.ref
            await service.erase(
                visitor.subject, actor="subject", via="self-service", regime=visitor.regime
            )
        except RateLimited as exc:
            return exc.response()
        except BadRequest as exc:
            return _error(exc)
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


def _error(exc: BadRequest) -> Response:
    return _private(JSONResponse({"error": exc.reason}, status_code=exc.status))


def _private(response: Response) -> Response:
    # Personal data: never cached anywhere, never sniffed into something else.
    response.headers["cache-control"] = "no-store"
    response.headers["x-content-type-options"] = "nosniff"
    return response


def _parse_confirm(request: Request, body: bytes) -> tuple[bool, str | None, bool]:
    """(confirmed, CSRF token, answer in JSON) from a JSON or form body."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        try:
            data: Any = json.loads(body or b"{}")
        # Nesting past the recursion limit raises RecursionError, not ValueError (issue 7).
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise BadRequest(400, "body is not valid JSON") from None
        if not isinstance(data, dict):
            raise BadRequest(400, "body must be a JSON object")
        confirm = data.get("confirm", False)
        if not isinstance(confirm, bool):
            raise BadRequest(400, "confirm must be true or false")
        return confirm, request.headers.get("x-csrf-token"), True
    if ctype in ("application/x-www-form-urlencoded", ""):
        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=16)
        except (UnicodeDecodeError, ValueError):
            raise BadRequest(400, "form is not valid UTF-8 or has too many fields") from None
        confirm_values = form.get("confirm", [])
        tokens = form.get("csrf")
        token = tokens[0] if tokens else None
        wants_json = "application/json" in request.headers.get("accept", "")
        return confirm_values == ["yes"], token, wants_json
    raise BadRequest(415, "send application/json or a form (application/x-www-form-urlencoded)")
