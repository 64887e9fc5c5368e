"""A process serving the compliance console on its own, wired the way `gateway.app` wires it
(store opened at startup, the real `AuditLog`, `ConsoleApi.routes()`), for end-to-end tests
until the lead mounts the console in the gateway.

The request queue is the data-subject request log (`audit.requests_store`) behind
`gateway.dsr_service.ConsoleQueue`; tests add requests with `RequestsStore.receive`.

Run: CG_CONSOLE_CONFIG=policies.yaml python -m granian --interface asgi --factory \\
         tests.gateway.console.console_server:factory
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import consent.store  # noqa: F401  (registers the consent tables the statistics read)
from audit.requests_store import RequestsStore
from gateway.audit_commands import build_audit_log
from gateway.console.routes import ConsoleApi
from gateway.dsr_service import ConsoleQueue, deadline_policy
from gateway.master_key import load_master_key
from gateway.storage import open_store
from policies.loader import load_config

CONFIG_ENV = "CG_CONSOLE_CONFIG"


def factory() -> Starlette:
    """The console app for the config named by `$CG_CONSOLE_CONFIG`."""
    config = load_config(Path(os.environ[CONFIG_ENV])).config
    state: dict[str, object] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = await open_store(config.storage.url)
        master_key = load_master_key(config.keys.master_key_file)
        audit = build_audit_log(store, config.audit, master_key)
        await audit.start()
        requests = RequestsStore(store, master_key, deadline_policy(config.dsr))
        state.update(store=store, audit=audit, queue=ConsoleQueue(requests))
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
