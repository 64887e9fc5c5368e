"""A process serving the compliance console on its own, wired the way `gateway.app` wires it
(store opened at startup, the real `AuditLog`, `ConsoleApi.routes()`), for end-to-end tests
until the lead mounts the console in the gateway.

The request queue is `TableQueue` below: a stand-in for the data-subject request tracker
(`cg_dsr_requests`, being built elsewhere) that implements the console's `RequestQueue`
protocol over a table of the same name prefixed `test_`, which tests fill with plain SQL.

Run: CG_CONSOLE_CONFIG=policies.yaml python -m granian --interface asgi --factory \\
         tests.gateway.console.console_server:factory
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Column, DateTime, MetaData, String, Table, select, update
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import consent.store  # noqa: F401  (registers the consent tables the statistics read)
from gateway.audit_commands import build_audit_log
from gateway.console.request_queue import QueuedRequest
from gateway.console.routes import ConsoleApi
from gateway.master_key import load_master_key
from gateway.storage import Store, open_store
from policies.loader import load_config

CONFIG_ENV = "CG_CONSOLE_CONFIG"
metadata = MetaData()
test_dsr_requests = Table(
    "test_dsr_requests",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("subject_ref", String(64), nullable=True),
    Column("regime", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("deadline", DateTime(timezone=True), nullable=False),
    Column("completed_at", DateTime(timezone=True), nullable=True),
    Column("completed_by", String(64), nullable=True),
)


def _utc(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


class TableQueue:
    """`RequestQueue` over `test_dsr_requests`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def list_requests(self, *, include_completed: bool) -> Sequence[QueuedRequest]:
        t = test_dsr_requests.c
        stmt = select(test_dsr_requests).order_by(t.deadline)
        if not include_completed:
            stmt = stmt.where(t.completed_at.is_(None))
        async with self.store.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        out = []
        for r in rows:
            received, deadline = _utc(r.received_at), _utc(r.deadline)
            assert received is not None and deadline is not None
            out.append(
                QueuedRequest(
                    r.id, r.kind, r.subject_ref, r.regime, r.status, received, deadline,
                    _utc(r.completed_at), r.completed_by,
                )
            )  # fmt: skip
        return out

    async def complete(self, request_id: str, actor: str, now: datetime) -> bool:
        t = test_dsr_requests.c
        async with self.store.write() as conn:
            result = await conn.execute(
                update(test_dsr_requests)
                .where(t.id == request_id, t.completed_at.is_(None))
                .values(status="completed", completed_at=now, completed_by=actor)
            )
        return bool(result.rowcount)


def factory() -> Starlette:
    """The console app for the config named by `$CG_CONSOLE_CONFIG`."""
    config = load_config(Path(os.environ[CONFIG_ENV])).config
    state: dict[str, object] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = await open_store(config.storage.url)
        async with store.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        audit = build_audit_log(store, config.audit, load_master_key(config.keys.master_key_file))
        await audit.start()
        state.update(store=store, audit=audit, queue=TableQueue(store))
        try:
            yield
        finally:
            await audit.close()
            await store.close()

    api = ConsoleApi(
        config,
        store=lambda: state.get("store"),  # type: ignore[arg-type,return-value]
        audit=lambda: state.get("audit"),  # type: ignore[arg-type,return-value]
        requests=lambda: state.get("queue"),  # type: ignore[arg-type,return-value]
    )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    routes = [Route(f"{config.gateway.prefix}/healthz", healthz), *api.routes()]
    return Starlette(routes=routes, lifespan=lifespan)
