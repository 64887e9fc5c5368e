"""The compliance console's HTTP routes under `{prefix}/admin` (contract: login required).

Roles, enforced here on every request (403 for a page the role may not see):

| page                                   | officer | operator |
|----------------------------------------|---------|----------|
| audit log (filter by time and action)  | yes     | yes      |
| ... filter by subject, subject column  | yes     | no: subjects show as "(subject)" |
| audit export CSV / JSONL               | yes     | no       |
| "Verify now"                           | yes     | yes      |
| request queue, "complete"              | yes     | no       |
| consent statistics                     | yes     | yes      |
| subject timeline                       | yes     | no       |

An operator runs the gateway (health, consent rates, whether the log is intact) without
seeing which person did what; the officer answers data-subject requests and regulators.

Every POST carries a CSRF token (login: bound to a pre-login cookie; afterwards: to the
session, `gateway.console.auth`). Every login success and failure is appended durably to the
audit log (`admin.login`, `admin.login_failed`; see `gateway.console.login`); passwords are
never logged. Sign-in attempts are rate limited per client address
(`gateway.http.rate_limit.RateLimiter`: 10 at once, then one a minute), throttled per (name,
client) with growing delays instead of locking the account (`LoginThrottle`), and refused with
a 503 when every password-hashing slot is busy. Officers' exports and
subject look-ups are audited too (`admin.audit_exported`,
`admin.subject_viewed`).

Responses carry `Cache-Control: no-store` and a CSP without scripts (the console has none).
"""

from __future__ import annotations

import io
import logging
import math
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from audit.export import writer as export_writer
from audit.log import AuditLog
from dsr.queue import RequestQueue, deadline_status
from gateway.console import audit_view, chart
from gateway.console.auth import ConsoleUsers, Session, check_csrf, csrf_token
from gateway.console.consent_stats import (
    choice_counts,
    day_range,
    load_choices,
    opt_in_rates,
)
from gateway.console.download_links import DownloadLinks
from gateway.console.login import (
    BUSY_RETRY_AFTER,
    Authenticator,
    Failed,
    HashingBusy,
    Throttled,
)
from gateway.console.pages import (
    CSS,
    SECURITY_HEADERS,
    error_page,
    parse_filter_time,
    read_form,
    render,
    safe_next,
)
from gateway.console.passwords import (
    DEFAULT_PARAMS,
    ScryptParams,
)
from gateway.console.timeline import Event, find_subject, rfc3339, timeline
from gateway.console.verify_status import last_result, run_verify
from gateway.demo.history import META_KEY as DEMO_META_KEY
from gateway.demo.history import read_summary
from gateway.http.cookies import CONSOLE_COOKIE, CONSOLE_HOST_COOKIE
from gateway.http.errors import HttpError
from gateway.http.forwarded import TrustedProxies
from gateway.http.forwarded import resolve as resolve_view
from gateway.http.rate_limit import RateLimiter
from policies.models import Config
from policies.purposes import gpc_purposes
from storage.store import Store

log = logging.getLogger("consentgate.console")

PRE_COOKIE = "cg_admin_pre"
# Per client: a burst of sign-in attempts, then one a minute (OWASP Authentication Cheat Sheet:
# limit failed attempts without locking the account out).
LOGIN_BURST, LOGIN_ATTEMPTS_PER_MINUTE = 10, 1


def throttle_notice(seconds: int) -> str:
    """What the sign-in page says while this name is throttled for this client."""
    if seconds < 120:
        wait = "1 second" if seconds == 1 else f"{seconds} seconds"
    else:
        wait = f"{math.ceil(seconds / 60)} minutes"
    return (
        "Sign-in is slowed down after repeated failures for this name from your address:"
        f" the next attempt waits {wait}. Other addresses are not affected."
    )


DAY_CHOICES = (7, 30, 90, 365)


@dataclass(frozen=True)
class _Ctx:
    session: Session
    https: bool


class ConsoleApi:
    """Route handlers of the console; the store, audit log and request queue are read through
    getters because the gateway opens them after its routes exist (and reopens the store)."""

    def __init__(
        self,
        config: Config,
        *,
        store: Callable[[], Store | None],
        audit: Callable[[], AuditLog | None],
        requests: Callable[[], RequestQueue | None] = lambda: None,
        trusted: TrustedProxies | None = None,
        params: ScryptParams = DEFAULT_PARAMS,
        limiter: RateLimiter | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        downloads: DownloadLinks | None = None,
    ) -> None:
        self.config = config
        self.prefix = config.gateway.prefix
        self.base = f"{self.prefix}/admin"
        self._store = store
        self._audit = audit
        self._requests = requests
        self.trusted = trusted or TrustedProxies(config.gateway.trusted_proxies)
        self.authenticator = Authenticator(params)
        self.limiter = limiter or RateLimiter(LOGIN_ATTEMPTS_PER_MINUTE, burst=LOGIN_BURST)
        self.clock = clock
        self.downloads = downloads

    def routes(self) -> list[Route]:
        """The Starlette routes of the console."""
        b = self.base
        page = self._page
        return [
            Route(b, page(self.home, None), methods=["GET", "HEAD"]),
            Route(f"{b}/", page(self.home, None), methods=["GET", "HEAD"]),
            Route(f"{b}/console.css", self.css, methods=["GET", "HEAD"]),
            Route(f"{b}/login", self.login_form, methods=["GET", "HEAD"]),
            Route(f"{b}/login", self.login, methods=["POST"]),
            Route(f"{b}/logout", page(self.logout, None, post=True), methods=["POST"]),
            Route(f"{b}/audit", page(self.audit, None), methods=["GET", "HEAD"]),
            Route(f"{b}/audit/verify", page(self.verify, None, post=True), methods=["POST"]),
            Route(f"{b}/audit/export.csv", page(self.export_csv, "officer"), methods=["GET"]),
            Route(f"{b}/audit/export.jsonl", page(self.export_jsonl, "officer"), methods=["GET"]),
            Route(f"{b}/requests", page(self.requests, "officer"), methods=["GET", "HEAD"]),
            Route(
                f"{b}/requests/{{request_id}}/complete",
                page(self.complete, "officer", post=True),
                methods=["POST"],
            ),
            Route(f"{b}/stats", page(self.stats, None), methods=["GET", "HEAD"]),
            Route(f"{b}/subjects", page(self.subjects, "officer"), methods=["GET", "HEAD"]),
        ]

    # --- plumbing -------------------------------------------------------------------------

    def store(self) -> Store:
        """The open store, or a 503."""
        store = self._store()
        if store is None:
            raise HttpError(503, "The store is unavailable; try again shortly.")
        return store

    def _https(self, request: Request) -> bool:
        peer = request.scope.get("client")
        view = resolve_view(
            peer[0] if peer else "", request.scope["scheme"], request.scope["headers"], self.trusted
        )
        return view.proto == "https"

    def _client(self, request: Request) -> str:
        peer = request.scope.get("client")
        view = resolve_view(
            peer[0] if peer else "", request.scope["scheme"], request.scope["headers"], self.trusted
        )
        return view.client

    def _cookie_name(self, https: bool) -> str:
        return CONSOLE_HOST_COOKIE if https else CONSOLE_COOKIE

    def _session_cookie(self, token: str, https: bool, *, clear: bool = False) -> str:
        # RFC 6265bis §4.1.3.2: `__Host-` requires Secure, no Domain and Path=/.
        name = self._cookie_name(https)
        path = "/" if https else self.base
        value = "" if clear else token
        attrs = f"{name}={value}; Path={path}; HttpOnly; SameSite=Strict"
        if https:
            attrs += "; Secure"
        if clear:
            attrs += "; Max-Age=0"
        return attrs

    def _page(
        self,
        handler: Callable[[Request, _Ctx], Awaitable[Response]],
        role: str | None,
        *,
        post: bool = False,
    ) -> Callable[[Request], Awaitable[Response]]:
        """Wrap a handler: session required (else to the login page), role checked (403),
        CSRF checked on posts (403), errors as pages."""

        async def endpoint(request: Request) -> Response:
            https = self._https(request)
            session: Session | None = None
            try:
                store = self.store()
                token = request.cookies.get(self._cookie_name(https))
                session = await ConsoleUsers(store).session(token, self.clock())
                if session is None:
                    if post:
                        raise HttpError(403, "Your session has ended; sign in again.")
                    target = request.url.path
                    if request.url.query:
                        target += "?" + request.url.query
                    query = urlencode({"next": target})
                    return RedirectResponse(f"{self.base}/login?{query}", status_code=303)
                if role is not None and session.user.role != role:
                    raise HttpError(403, f"This page is for the {role} role only.")
                if post:
                    form = await read_form(request)
                    if not check_csrf(session.token, form.get("csrf")):
                        raise HttpError(403, "Missing or invalid CSRF token; reload the page.")
                    request.state.form = form
                return await handler(request, _Ctx(session, https))
            except HttpError as exc:
                return error_page(self.base, exc, session)

        return endpoint

    async def _audit_event(self, actor: str, action: str, subject: str | None = None) -> None:
        audit = self._audit()
        if audit is None:
            raise HttpError(503, "The audit log is unavailable, so nothing was done.")
        try:
            await audit.append_durable(actor, action, subject)
        except Exception as exc:  # AuditError of any kind: refuse rather than act unaudited
            log.error("console: audit entry %s not recorded: %s", action, exc)
            raise HttpError(503, "The audit log is unavailable, so nothing was done.") from None

    # --- login ----------------------------------------------------------------------------

    async def css(self, request: Request) -> Response:
        """The console's stylesheet (served here so the CSP needs no inline styles)."""
        return Response(CSS, media_type="text/css", headers={"cache-control": "max-age=3600"})

    async def home(self, request: Request, ctx: _Ctx) -> Response:
        """The console's start page is the audit log."""
        return RedirectResponse(f"{self.base}/audit", status_code=303)

    def _login_page(
        self,
        request: Request,
        status: int,
        error: str | None,
        name: str = "",
        next_: str = "",
        notice: str | None = None,
    ) -> Response:
        pre = request.cookies.get(PRE_COOKIE)
        if not pre or len(pre) > 64:
            pre = secrets.token_urlsafe(24)
        response = render(
            self.base,
            "login.html",
            status,
            None,
            csrf=csrf_token(pre),
            error=error,
            notice=notice,
            name=name,
            next=safe_next(next_ or request.query_params.get("next"), self.base),
        )
        secure = "; Secure" if self._https(request) else ""
        response.headers.append(
            "set-cookie",
            f"{PRE_COOKIE}={pre}; Path={self.base}/login; HttpOnly; SameSite=Strict{secure}",
        )
        return response

    async def login_form(self, request: Request) -> Response:
        """The sign-in form."""
        return self._login_page(request, 200, None)

    async def login(self, request: Request) -> Response:
        """Check a password; on success a session cookie and a redirect."""
        client = self._client(request)
        name = ""
        form: dict[str, str] = {}
        try:
            self.limiter.check(
                client, "Too many sign-in attempts from your address; wait a minute."
            )
            form = await read_form(request)
            pre = request.cookies.get(PRE_COOKIE)
            if not pre or not check_csrf(pre, form.get("csrf")):
                raise HttpError(403, "Missing or invalid CSRF token; reload the sign-in page.")
            store = self.store()
            name = form.get("name", "").strip().lower()
            password = form.get("password", "")
            outcome = await self.authenticator.authenticate(
                ConsoleUsers(store), name, password, self.clock(), self._audit_event, client
            )
        except HttpError as exc:
            return error_page(self.base, exc, None)
        except Throttled as exc:
            # RFC 6585 §4: 429 with Retry-After; the page says why and for how long.
            return self._throttled(
                request,
                429,
                throttle_notice(exc.retry_after),
                name,
                form.get("next", ""),
                exc.retry_after,
            )
        except HashingBusy:
            # RFC 9110 §15.6.4: 503 with Retry-After, refused at once rather than queued.
            busy = "The console is busy checking other sign-ins; try again in a moment."
            return self._throttled(request, 503, busy, name, form.get("next", ""), BUSY_RETRY_AFTER)
        if isinstance(outcome, Failed):
            return self._login_page(
                request,
                401,
                "Wrong user name or password.",
                name=name,
                next_=form.get("next", ""),
                notice=throttle_notice(outcome.wait) if outcome.wait > 0 else None,
            )
        https = self._https(request)
        response = RedirectResponse(safe_next(form.get("next"), self.base), status_code=303)
        response.headers.append("set-cookie", self._session_cookie(outcome.token, https))
        response.headers.append(
            "set-cookie", f"{PRE_COOKIE}=; Path={self.base}/login; Max-Age=0; HttpOnly"
        )
        response.headers["cache-control"] = "no-store"
        return response

    def _throttled(
        self, request: Request, status: int, notice: str, name: str, next_: str, retry: int
    ) -> Response:
        response = self._login_page(request, status, None, name=name, next_=next_, notice=notice)
        response.headers["retry-after"] = str(retry)
        return response

    async def logout(self, request: Request, ctx: _Ctx) -> Response:
        """End the session."""
        await ConsoleUsers(self.store()).close_session(ctx.session.token)
        response = RedirectResponse(f"{self.base}/login", status_code=303)
        response.headers.append("set-cookie", self._session_cookie("", ctx.https, clear=True))
        return response

    # --- audit log ------------------------------------------------------------------------

    async def _resolve_subject(self, store: Store, value: str) -> str | None:
        """A subject id from a `subject_ref` or a raw `sub_…` id; None when unknown."""
        found = await find_subject(store, value)
        return found.id if found is not None else None

    async def _query(
        self, request: Request, ctx: _Ctx, store: Store
    ) -> tuple[audit_view.AuditQuery, dict[str, str], str | None]:
        """The filter from the query string, the form's values, and an error to show."""
        params = request.query_params
        form = {k: params.get(k, "").strip()[:80] for k in ("since", "until", "action", "subject")}
        if form["subject"] and ctx.session.user.role != "officer":
            raise HttpError(403, "Filtering by subject is for the officer role only.")
        error = None
        try:
            since, until = parse_filter_time(form["since"]), parse_filter_time(form["until"])
        except ValueError:
            since = until = None
            error = "Times must look like 2026-11-23T10:00 (UTC) or 2026-11-23."
        subject = None
        if form["subject"]:
            subject = await self._resolve_subject(store, form["subject"])
            if subject is None:
                error = "No subject with this reference; showing no entries."
                subject = "sub_" + "0" * 32  # matches nothing
        query = audit_view.AuditQuery(
            since=since, until=until, subject=subject, action=form["action"] or None
        )
        return query, form, error

    async def audit(self, request: Request, ctx: _Ctx) -> Response:
        """The audit log page: last verify, filters, one page of entries, export links."""
        store = self.store()
        chain = self.config.audit.chain
        query, form, error = await self._query(request, ctx, store)
        before_text = request.query_params.get("before", "")
        before = int(before_text) if before_text.isdigit() and len(before_text) <= 15 else None
        page = await audit_view.page(store, chain, query, before)
        filters = {k: v for k, v in form.items() if v}
        qs = ("?" + urlencode(filters)) if filters else ""
        next_link = None
        if page.next_before is not None:
            next_link = f"{self.base}/audit?" + urlencode({**filters, "before": page.next_before})
        self_url = f"{self.base}/audit{qs}"
        return render(
            self.base,
            "audit.html",
            400 if error and error.startswith("Times") else 200,
            ctx.session,
            page="audit",
            verify=await last_result(store, chain),
            actions=await audit_view.actions(store, chain),
            form=form,
            filter_error=error,
            rows=page.rows,
            total=page.total,
            query=qs,
            self_url=self_url,
            page_next=next_link,
            page_first=self_url if before is not None else None,
        )

    async def verify(self, request: Request, ctx: _Ctx) -> Response:
        """Run `audit verify` now and go back to the log, which shows the result."""
        await run_verify(self.store(), self.config.audit, ctx.session.user.name, self.clock())
        target = request.state.form.get("return_to", "")
        return RedirectResponse(safe_next(target, self.base), status_code=303)

    async def _export(self, request: Request, ctx: _Ctx, fmt: str) -> Response:
        store = self.store()
        query, _, error = await self._query(request, ctx, store)
        if error is not None and error.startswith("Times"):
            raise HttpError(400, error)
        await self._audit_event(ctx.session.user.name, "admin.audit_exported")
        chain = self.config.audit.chain
        buffer = io.StringIO()
        write = export_writer("csv" if fmt == "csv" else "jsonl", buffer)

        async def body() -> AsyncIterator[bytes]:
            async for record in audit_view.records(store, chain, query):
                write(record)
                if buffer.tell() >= 64 * 1024:
                    yield buffer.getvalue().encode("utf-8")
                    buffer.seek(0)
                    buffer.truncate()
            yield buffer.getvalue().encode("utf-8")

        stamp = self.clock().strftime("%Y%m%dT%H%M%SZ")
        media = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson"
        headers = {
            **SECURITY_HEADERS,
            "content-disposition": f'attachment; filename="audit-{chain}-{stamp}.{fmt}"',
        }
        return StreamingResponse(body(), media_type=media, headers=headers)

    async def export_csv(self, request: Request, ctx: _Ctx) -> Response:
        """The filtered entries as CSV (the columns of `consentgate audit export`)."""
        return await self._export(request, ctx, "csv")

    async def export_jsonl(self, request: Request, ctx: _Ctx) -> Response:
        """The filtered entries as JSON lines."""
        return await self._export(request, ctx, "jsonl")

    # --- requests -------------------------------------------------------------------------

    async def requests(self, request: Request, ctx: _Ctx) -> Response:
        """The request queue, open requests by deadline; overdue ones stand out."""
        queue = self._requests()
        show_completed = request.query_params.get("completed") == "1"
        notice = "Request completed." if request.query_params.get("done") == "1" else None
        if queue is None:
            return render(
                self.base,
                "requests.html",
                503,
                ctx.session,
                page="requests",
                unavailable="The request tracker is not available.",
                notice=notice,
            )
        now = self.clock()
        items = await queue.list_requests(include_completed=show_completed)
        rows = []
        for item in items:
            urgency, days = deadline_status(item, now)
            rows.append(
                {
                    "req": item,
                    "urgency": urgency,
                    "days": days,
                    "received": rfc3339(item.received_at),
                    "deadline": rfc3339(item.deadline),
                }
            )
        return render(
            self.base,
            "requests.html",
            200,
            ctx.session,
            page="requests",
            unavailable=None,
            notice=notice,
            rows=rows,
            show_completed=show_completed,
            open_count=sum(1 for item in items if item.open),
            overdue_count=sum(1 for r in rows if r["urgency"] == "overdue"),
        )

    async def complete(self, request: Request, ctx: _Ctx) -> Response:
        """Mark one request completed by this officer."""
        queue = self._requests()
        if queue is None:
            raise HttpError(503, "The request tracker is not available.")
        request_id = request.path_params["request_id"]
        if not await queue.complete(request_id, ctx.session.user.name, self.clock()):
            raise HttpError(404, "No open request with this id.")
        return RedirectResponse(f"{self.base}/requests?done=1", status_code=303)

    # --- statistics -----------------------------------------------------------------------

    async def stats(self, request: Request, ctx: _Ctx) -> Response:
        """Opt-in rate per purpose per regime per day, as SVG charts and tables."""
        store = self.store()
        days_text = request.query_params.get("days", "30")
        days = int(days_text) if days_text.isdigit() and int(days_text) in DAY_CHOICES else 30
        last = self.clock().date()
        span = day_range(last, days)
        since = datetime.combine(span[0], datetime.min.time(), UTC)
        choices = await load_choices(store, since, gpc_purposes(self.config))
        series = opt_in_rates(choices, span[0], last)
        kinds = choice_counts(choices, span[0], last)
        notice_only = {
            (regime, p.id)
            for p in self.config.purposes
            for regime in self.config.regimes
            if p.mechanism_in(regime) == "notice_only"
        }
        series = [s for s in series if (s.regime, s.purpose) not in notice_only]
        charts = []
        for index, regime in enumerate(sorted({s.regime for s in series})):
            mine = [s for s in series if s.regime == regime]
            legend = [
                {"purpose": s.purpose, "colour": chart.style(i)[0], "dash": chart.style(i)[1]}
                for i, s in enumerate(mine)
            ]
            charts.append(
                {
                    "id": f"cg-chart-{index}",
                    "regime": regime,
                    "series": mine,
                    "legend": legend,
                    "svg": chart.line_chart(
                        f"Opt-in rate under {regime}", mine, span, f"cg-chart-{index}"
                    ),
                }
            )
        if not charts:
            # An empty grid reads as "broken"; the chart itself says there is nothing to draw.
            empty = chart.line_chart("Opt-in rate", [], span, "cg-chart-0")
            charts.append(
                {
                    "id": "cg-chart-0",
                    "regime": "All jurisdictions",
                    "series": [],
                    "legend": [],
                    "svg": empty,
                }
            )
            empty_period = True
        else:
            empty_period = False
        return render(
            self.base,
            "stats.html",
            200,
            ctx.session,
            page="stats",
            demo=read_summary(await store.get_meta(DEMO_META_KEY)),
            empty_period=empty_period,
            charts=charts,
            kinds=kinds,
            days=days,
            day_choices=DAY_CHOICES,
            first=span[0],
            last=last,
        )

    # --- subject timeline -----------------------------------------------------------------

    async def subjects(self, request: Request, ctx: _Ctx) -> Response:
        """One subject's consent choices, audit entries and requests, in time order."""
        store = self.store()
        ref = request.query_params.get("ref", "").strip()[:80]
        values: dict[str, Any] = {"page": "subjects", "ref": ref, "found": False}
        if not ref:
            return render(self.base, "subject.html", 200, ctx.session, **values)
        subject = await find_subject(store, ref)
        if subject is None or subject.ref is None:
            # An erased subject answers exactly as one that never existed (same status, same
            # page, nothing audited): erasure must not be observable as "someone was here"
            # (contract "Erasure": what remains cannot be linked to the person).
            return render(self.base, "subject.html", 404, ctx.session, **values)
        queue = self._requests()
        requests = await queue.list_requests(include_completed=True) if queue else []
        events: list[Event] = await timeline(
            store, self.config.audit.chain, subject, requests, gpc_purposes(self.config)
        )
        # Accountability (GDPR Art. 5(2)): who looked at whose history is itself on record.
        await self._audit_event(ctx.session.user.name, "admin.subject_viewed", subject.id)
        values.update(
            found=True, subject_id=subject.id, subject_ref=subject.ref, events=events, download=None
        )
        if self.downloads is not None and ctx.session.user.role == "officer":
            # A signed link the officer can hand on; each use is a tracked, audited export.
            token = self.downloads.mint(subject.ref, ctx.session.user.name, self.clock())
            values["download"] = f"{self.base}/download/{{fmt}}/{token}"
        return render(self.base, "subject.html", 200, ctx.session, **values)
