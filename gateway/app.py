"""The gateway's ASGI application.

Requests under the reserved prefix (`gateway.prefix`, default `/_privacy`) and
`/.well-known/gpc.json` are answered here and never reach the storefront; everything else goes
to the streaming proxy. The app owns the lifetimes of the upstream pool and the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, Router
from starlette.types import Receive, Scope, Send

from audit.log import AuditError, AuditLog, AuditUnavailable
from consent.audit_entry import consent_action, consent_details
from consent.banner import PREFERENCES_STYLE
from consent.master_key import load_master_key
from consent.state import ConsentRecord
from dsr.requests_store import RequestsStore
from dsr.retention import RetentionScheduler
from dsr.service import ConsoleQueue, DsrService, build_service, deadline_policy
from gateway.console.download_links import DownloadLinks, LinkRefused
from gateway.console.routes import ConsoleApi
from gateway.csp.report_api import CspReportApi
from gateway.csp.reports import CspViolations
from gateway.http.forwarded import TrustedProxies
from gateway.http.metrics import GatewayMetrics, status_class
from gateway.http.security import PagePolicy, PageSecurity
from gateway.personalization.preview_links import PreviewLinks
from gateway.personalization.profile_tracking import ProfileTracking
from gateway.personalization.slots import Personalization
from gateway.proxy.exchange import CsrfTokens, Enforcement
from gateway.proxy.streaming import Proxy
from gateway.proxy.visitor import VisitorResolver
from gateway.routes import dsr_page
from gateway.routes.consent import PrivacyApi
from gateway.routes.dsr import DsrApi
from gateway.routes.dsr_page import render_bundle
from gateway.routes.events import EventsApi
from gateway.wiring import components, load_config, open_geo, open_stores
from personalization_rules.weather import provider_from_settings
from policies.loader import LoadedConfig
from policies.purposes import gpc_purposes
from storage.store import Store

log = logging.getLogger("consentgate")

CONFIG_ENV = "CONSENTGATE_RESOLVED_CONFIG"
OVERRIDES_ENV = "CONSENTGATE_OVERRIDES"
STORE_RETRY_SECONDS = 2.0


class Gateway:
    """ASGI callable: privacy routes, proxy, and lifespan."""

    def __init__(self, loaded: LoadedConfig) -> None:
        self.loaded = loaded
        config = loaded.config
        settings = config.gateway
        self.prefix = settings.prefix
        self.master_key = load_master_key(config.keys.master_key_file)
        self.geo = open_geo(config.geo)
        self.resolver = VisitorResolver(
            config, TrustedProxies(settings.trusted_proxies), self.geo, consent=None
        )
        self.weather = provider_from_settings(config.weather)
        self.tracking = ProfileTracking(config)
        self.personalization = Personalization(
            loaded,
            weather=self.weather,
            recommender=self.tracking.recommender,
            profiles=self.tracking.profile,
            tracker=self.tracking.observe,
            impressions=self.tracking.impressions,
            shown=self.tracking.shown,
        )
        self.events = EventsApi(
            config,
            lambda: self.resolver.consent,
            lambda: self.tracking.store,
            self.tracking.product,
        )
        self.previews = PreviewLinks(self.master_key)
        self.downloads = DownloadLinks(self.master_key)
        self.enforcement = Enforcement(
            config,
            self.resolver,
            CsrfTokens(self.master_key),
            self.personalization,
            self.previews,
        )
        self.proxy = Proxy(settings, exchange=self.enforcement)
        self.api = PrivacyApi(self.enforcement, on_record=self.audit_consent)
        self.resolver.on_record = self.audit_consent
        self.audit: AuditLog | None = None
        self.dsr: DsrService | None = None
        self.retention: RetentionScheduler | None = None
        self.store: Store | None = None
        self._store_task: asyncio.Task[None] | None = None
        self.metrics = self._metrics(settings.metrics_allow, self.resolver.trusted)
        # Every answer under the prefix carries the page security fields; the inline styles
        # of the gateway's own pages are hashed here, once.
        pages = PagePolicy.build(
            self.prefix, (PREFERENCES_STYLE, dsr_page.STYLE), settings.embed_origins
        )
        self.own = PageSecurity(self._answer_reserved, pages)
        self.proxy.withheld = self.metrics.pages_withheld
        registry = self.metrics.registry
        #: CSP violation counts by directive, blocked host and page (for tracker discovery).
        self.csp_violations = CspViolations(
            registry.counter(
                "consentgate_csp_violations_total",
                "CSP violations reported, by directive, blocked host and page path.",
            ),
            registry.counter(
                "consentgate_csp_violations_dropped_total",
                "CSP violations not counted: too many distinct keys.",
            ),
        )
        csp_reports = CspReportApi(
            self.prefix,
            self.csp_violations,
            registry.counter("consentgate_csp_reports_total", "CSP report posts, by outcome."),
            self.resolver.trusted,
            config.csp.report_rate_per_minute,
        )
        self.privacy = Router(
            routes=[
                Route(f"{self.prefix}/healthz", self.healthz, methods=["GET", "HEAD"]),
                Route(f"{self.prefix}/readyz", self.readyz, methods=["GET", "HEAD"]),
                Route(f"{self.prefix}/metrics", self.metrics.endpoint, methods=["GET"]),
                # Before the console's routes: a signed link needs no console session.
                Route(
                    f"{self.prefix}/admin/download/{{fmt}}/{{token}}",
                    self.officer_download,
                    methods=["GET"],
                ),
                *self.api.routes(),
                *DsrApi(self.enforcement, lambda: self.dsr).routes(),
                *self.events.routes(),
                *csp_reports.routes(),
                *ConsoleApi(
                    config,
                    store=lambda: self.store,
                    audit=lambda: self.audit,
                    requests=self.request_queue,
                    trusted=self.resolver.trusted,
                    downloads=self.downloads,
                ).routes(),
            ],
            # Starlette's slash redirect builds an absolute Location from the request's Host
            # (`Host: evil.example` → `http://evil.example/...`); no answer of ours may take
            # its host from the request, so `/x/` is a 404 like any unknown path.
            redirect_slashes=False,
        )

    def is_reserved(self, path: str) -> bool:
        """True for paths the gateway answers itself (contract: they never reach the shop)."""
        prefix = self.prefix
        if path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/"):
            return True
        return path == "/.well-known/gpc.json"

    def _metrics(self, allow: Any, trusted: TrustedProxies) -> GatewayMetrics:
        metrics = GatewayMetrics(allow, trusted)
        registry = metrics.registry
        registry.gauge(
            "consentgate_store_up",
            "1 while the store is open, 0 while it is being retried.",
            lambda: 1 if self.store is not None else 0,
        )
        registry.gauge(
            "consentgate_audit_queue_depth",
            "Audit entries waiting for the writer.",
            lambda: self.audit.queue_depth if self.audit is not None else None,
        )
        registry.gauge(
            "consentgate_audit_entries_written",
            "Audit entries this process committed.",
            lambda: self.audit.entries_written if self.audit is not None else None,
        )
        return metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":
            await self.proxy(self.previews.detach(scope), receive, send)  # WebSocket relay
            return
        path: str = scope["path"]
        reserved = self.is_reserved(path)
        status = 0

        async def counting_send(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if reserved:
                await self.own(scope, receive, counting_send)
            else:
                # `cg_preview` is the gateway's: cut from what the storefront sees.
                await self.proxy(self.previews.detach(scope), receive, counting_send)
        finally:
            route = (
                "proxied"
                if not reserved
                else "admin"
                if path.startswith(self.prefix + "/admin")
                else "privacy"
            )
            answered = status_class(status) if status else "none"
            self.metrics.requests.inc((("kind", route), ("status", answered)))

    async def _answer_reserved(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._guarded(self.privacy, scope, receive, send)

    async def _guarded(self, app: Any, scope: Scope, receive: Receive, send: Send) -> None:
        # Contract: the gateway never answers 500 with a traceback.
        started = False

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await app(scope, receive, tracking_send)
        except Exception:
            log.exception("privacy route failed: %s", scope.get("path"))
            if not started:
                await Response("service error\n", status_code=503)(scope, receive, send)

    # --- lifespan -------------------------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:  # pragma: no cover - reported to the server
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        """Open the upstream pool, then the store (retried in the background if down)."""
        await self.proxy.start()
        if self.weather is not None:
            try:
                await self.weather.start()
            except Exception as exc:  # personalization fails open: weather is "unknown"
                log.warning("weather provider failed to start: %s", exc)
                self.personalization.weather = self.weather = None
        try:
            await self._open_store()
        except Exception as exc:
            # Readiness reports it; pages keep flowing (consent fails closed) and we retry
            # until the store is back.
            log.warning("store unavailable at start, retrying: %s", exc)
            self._store_task = asyncio.create_task(self._reopen_store())
        # What start-up built (config, rules, geo tables, templates: ~125,000 objects) lives
        # as long as the worker: out of the collector's sight, a full collection under load
        # takes ~0 ms instead of ~45 ms that every request in flight would wait (bench/RESULTS.md).
        gc.freeze()

    def request_queue(self) -> ConsoleQueue | None:
        """The data-subject request queue the console shows (None while the store is down)."""
        if self.store is None:
            return None
        policy = deadline_policy(self.loaded.config.dsr)
        return ConsoleQueue(RequestsStore(self.store, self.master_key, policy))

    async def _open_store(self) -> None:
        config = self.loaded.config
        store, consent, audit = await open_stores(config, self.master_key)
        self.resolver.consent = consent
        await self.tracking.start(store)
        self.audit = audit
        # The tracker's own ProfileStore: its facts cache must see the erasures too.
        assert self.tracking.store is not None  # set by start()
        sources = [self.tracking.store]
        self.dsr = build_service(
            config, store, consent, audit, self.master_key, components(), sources
        )
        self.retention = RetentionScheduler(store, components(), config.retention, audit)
        self.retention.start()
        self.store = store
        # The config's hash is no one's personal data: it goes in the entry's public details.
        await self._audit(
            "system", "config.loaded", None, None, public={"config_sha256": self.loaded.sha256}
        )

    async def _audit(
        self,
        actor: str,
        action: str,
        subject: str | None,
        details: dict[str, object] | None,
        *,
        public: dict[str, object] | None = None,
    ) -> None:
        """Queue an audit entry; a full queue or a store outage is logged, never shown."""
        if self.audit is None:
            log.warning("audit log unavailable; lost %s", action)
            return
        try:
            await self.audit.append(actor, action, subject, details, public=public)
        except (AuditError, ValueError) as exc:
            log.warning("audit entry %s not queued: %s", action, type(exc).__name__)

    async def audit_consent(
        self, visitor: Any, previous: ConsentRecord | None, record: ConsentRecord
    ) -> None:
        """The audit entry for a consent record; durable before the choice is confirmed."""
        subject = visitor.subject.id if visitor.subject is not None else None
        details = consent_details(record)
        action = consent_action(previous, record, gpc_purposes(self.loaded.config))
        if self.audit is None:
            raise AuditError("audit log unavailable")
        # GDPR Art. 7(1): the choice and its proof are on record before we confirm it.
        try:
            await self.audit.append_durable("visitor", action, subject, details)
        except AuditUnavailable:
            # The record is stored but its entry is not: queue the entry (the writer retries
            # it until the store takes it), so no stored choice lacks its audit entry; the
            # visitor is still not told the choice was recorded.
            await self._audit("visitor", action, subject, details)
            raise
        self.metrics.consent_choices.inc(
            (("action", action), ("method", record.method), ("regime", record.regime))
        )

    async def _reopen_store(self) -> None:
        while self.store is None:
            await asyncio.sleep(STORE_RETRY_SECONDS)
            try:
                await self._open_store()
                log.info("store available again")
            except Exception as exc:
                log.warning("store still unavailable: %s", exc)

    async def shutdown(self) -> None:
        """Close what startup opened."""
        if self._store_task is not None:
            self._store_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._store_task
        if self.retention is not None:
            await self.retention.stop()
        with contextlib.suppress(Exception):
            await self.tracking.stop()
        if self.audit is not None:
            with contextlib.suppress(Exception):
                await self.audit.close()
        if self.weather is not None:
            with contextlib.suppress(Exception):
                await self.weather.close()
        await self.proxy.close()
        if self.store is not None:
            await self.store.close()

    # --- privacy routes -------------------------------------------------------------------

    async def officer_download(self, request: Request) -> Response:
        """A subject's bundle through an officer's signed link (`console.download_links`)."""
        fmt, token = request.path_params["fmt"], request.path_params["token"]
        headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
        if fmt not in ("json", "html"):
            return PlainTextResponse("format must be json or html\n", 404, headers=headers)
        try:
            grant = self.downloads.open(token, datetime.now(UTC))
        except LinkRefused as exc:
            return PlainTextResponse(f"{exc}\n", exc.status, headers=headers)
        service = self.dsr
        if service is None:
            return PlainTextResponse("store unavailable; try again\n", 503, headers=headers)
        subject = await service.subject(grant.subject_ref)
        if subject is None:
            return PlainTextResponse("subject unknown or erased\n", 404, headers=headers)
        bundle = await service.export(subject, actor=f"officer:{grant.officer}", via="officer")
        if fmt == "html":
            json_url = f"{self.prefix}/admin/download/json/{token}"
            page = render_bundle(bundle, json_url=json_url, delete_url=None)
            return HTMLResponse(page, headers=headers)
        body = json.dumps(bundle, ensure_ascii=False, indent=2).encode("utf-8")
        name = f"data-subject-{bundle['subject_ref']}.json"
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return Response(body, media_type="application/json", headers=headers)

    async def healthz(self, request: Request) -> Response:
        """Liveness: the process answers."""
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        """Readiness: the store is reachable and writable, and the upstream reachable."""
        store = self.store
        # A store that answers reads but refuses writes (locked by another process, disk
        # full) refuses consent choices: not ready either.
        store_ok = store is not None and await store.ping() and await store.writable()
        upstream_ok = await self.proxy.upstream_reachable()
        ready = store_ok and upstream_ok
        body = {"ready": ready, "store": store_ok, "upstream": upstream_ok}
        return JSONResponse(body, status_code=200 if ready else 503)


def create_app(loaded: LoadedConfig) -> Gateway:
    """Build the ASGI app for a validated config."""
    return Gateway(loaded)


def factory() -> Gateway:
    """Granian's app factory: each worker loads the config the `run` command validated."""
    overrides = json.loads(os.environ.get(OVERRIDES_ENV, "{}"))
    return create_app(load_config(Path(os.environ[CONFIG_ENV]), overrides or None))
