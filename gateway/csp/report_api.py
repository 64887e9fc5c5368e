"""`POST {prefix}/csp-report`: where browsers send the violations of our policy.

Rate-limited per client network first (a flood costs no parsing; `gateway.http.rate_limit`), then
415 for a type other than `application/csp-report` or `application/reports+json`, 413 past
16 KiB, 400 for a body that is not a report; otherwise 204, and the violations are counted
(`reports.CspViolations`). Every outcome is counted in `consentgate_csp_reports_total`.
Nothing about the sender is stored (see `reports`).
"""

from __future__ import annotations

from typing import Final

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.csp.reports import MEDIA_TYPES, CspViolations, MalformedReport, parse_reports
from gateway.http.forwarded import TrustedProxies
from gateway.http.forwarded import resolve as resolve_view
from gateway.http.metrics import Counter
from gateway.http.rate_limit import RateLimited, RateLimiter

MAX_BODY: Final = 16 * 1024


class _Refused(Exception):
    def __init__(self, status: int, outcome: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.outcome, self.reason = status, outcome, reason


class CspReportApi:
    """The handler of `POST {prefix}/csp-report`."""

    def __init__(
        self,
        prefix: str,
        violations: CspViolations,
        outcomes: Counter,
        trusted: TrustedProxies,
        rate_per_minute: int,
    ) -> None:
        self.path = f"{prefix}/csp-report"
        self.violations = violations
        self.outcomes = outcomes
        self.trusted = trusted
        self.limiter = RateLimiter(rate_per_minute)

    def routes(self) -> list[Route]:
        """The Starlette routes this module answers."""
        return [Route(self.path, self.post_report, methods=["POST"])]

    async def post_report(self, request: Request) -> Response:
        """Count the violations in one report body (module docstring)."""
        try:
            self._limit(request)
            media_type = self._media_type(request)
            body = await self._body(request)
            try:
                violations = parse_reports(body, media_type)
            except MalformedReport as exc:
                raise _Refused(400, "malformed", str(exc)) from None
        except RateLimited as exc:
            self.outcomes.inc((("outcome", "rate_limited"),))
            return exc.response()
        except _Refused as exc:
            self.outcomes.inc((("outcome", exc.outcome),))
            return JSONResponse(
                {"error": exc.reason}, exc.status, headers={"cache-control": "no-store"}
            )
        for violation in violations:
            self.violations.record(violation)
        self.outcomes.inc((("outcome", "accepted"),))
        return Response(status_code=204, headers={"cache-control": "no-store"})

    def _limit(self, request: Request) -> None:
        peer = request.scope.get("client")
        peer_ip = peer[0] if peer else ""
        view = resolve_view(
            peer_ip, request.scope["scheme"], request.scope["headers"], self.trusted
        )
        wait = self.limiter.take(view.client)
        if wait > 0:
            raise RateLimited(wait, "too many reports from your address; try again later")

    def _media_type(self, request: Request) -> str:
        essence = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if essence not in MEDIA_TYPES:
            raise _Refused(415, "wrong_type", "send application/csp-report or reports+json")
        return essence

    async def _body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
            raise _Refused(413, "too_large", f"the body is limited to {MAX_BODY} bytes")
        data = bytearray()
        try:
            async for chunk in request.stream():
                data += chunk
                if len(data) > MAX_BODY:
                    raise _Refused(413, "too_large", f"the body is limited to {MAX_BODY} bytes")
        except ClientDisconnect:
            raise _Refused(400, "malformed", "the body was cut short") from None
        return bytes(data)
