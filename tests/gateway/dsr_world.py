"""The demo world with data-subject requests wired in, as real processes.

Until the lead wires `gateway.dsr_api` into `gateway.app`, this module's `factory` is the
gateway app plus what that wiring needs: a running audit log, consent choices audited
(`consent.given` with sealed details), the DSR service over consent and profile data, and
the `/_privacy/my-data` routes. `start_dsr_world` serves it under granian in front of the
demo shop, on SQLite or on a given PostgreSQL database.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import audit.requests_store  # noqa: F401  (registers the "dsr" schema component)
import audit.store  # noqa: F401  (registers the "audit" schema component)
from audit.log import AuditLog
from consent.state import ConsentRecord
from gateway.app import CONFIG_ENV, OVERRIDES_ENV, Gateway
from gateway.audit_commands import build_audit_log
from gateway.dsr_api import DsrApi
from gateway.dsr_service import DsrService, build_service
from gateway.visitor import Visitor
from personalization_rules.profile_store import ProfileStore
from policies.loader import LoadedConfig, load_config
from tests import procs
from tests.demo_world import DemoWorld


class DsrGateway(Gateway):
    """`gateway.app.Gateway` plus the DSR wiring (module docstring)."""

    def __init__(self, loaded: LoadedConfig) -> None:
        super().__init__(loaded)
        self.audit_log: AuditLog | None = None
        self.dsr: DsrService | None = None
        self.dsr_api = DsrApi(self.enforcement, lambda: self.dsr)
        self.privacy.routes.extend(self.dsr_api.routes())
        self.api.on_record = self._on_record

    async def startup(self) -> None:
        await super().startup()
        assert self.store is not None and self.resolver.consent is not None
        config = self.loaded.config
        self.audit_log = build_audit_log(self.store, config.audit, self.master_key)
        await self.audit_log.start()
        self.dsr = build_service(
            config, self.store, self.resolver.consent, self.audit_log, self.master_key,
            [ProfileStore(self.store)],
        )  # fmt: skip

    async def shutdown(self) -> None:
        if self.audit_log is not None:
            await self.audit_log.close()
        await super().shutdown()

    async def _on_record(
        self, visitor: Visitor, previous: ConsentRecord | None, record: ConsentRecord
    ) -> None:
        assert self.audit_log is not None and visitor.subject is not None
        await self.audit_log.append_durable(
            "subject",
            "consent.given",
            visitor.subject.id,
            {
                "granted": sorted(record.granted),
                "denied": sorted(record.denied),
                "method": record.method,
                "policy_version": record.policy_version,
                "text_hash": record.text_hash,
                "regime": record.regime,
            },
        )


def factory() -> DsrGateway:
    """Granian's app factory (same environment as `gateway.app:factory`)."""
    overrides = json.loads(os.environ.get(OVERRIDES_ENV, "{}"))
    return DsrGateway(load_config(Path(os.environ[CONFIG_ENV]), overrides or None))


@contextlib.contextmanager
def start_dsr_world(data_dir: Path, store_url: str | None = None) -> Iterator[DemoWorld]:
    """The demo shop and this module's gateway in front of it."""
    import yaml

    from gateway.demo.world import prepare_data_dir, write_config

    paths = prepare_data_dir(data_dir)
    port, shop_port = procs.free_port(), procs.free_port()
    config = write_config(paths, port, shop_port)
    if store_url is not None:
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
        data["storage"]["url"] = store_url
        config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    url = f"http://127.0.0.1:{port}"
    granian = [sys.executable, "-m", "granian", "--interface", "asgi", "--no-ws", "--host",
               "127.0.0.1", "--no-access-log"]  # fmt: skip
    with procs.log_file("shop") as (shop_log, shop_log_path):
        shop = procs.spawn([*granian, "--port", str(shop_port), "gateway.demo.shop:app"], shop_log)
        try:
            procs.wait_http(f"http://127.0.0.1:{shop_port}/", shop, shop_log_path)
            with procs.log_file("gateway") as (log, log_path):
                gateway = procs.spawn(
                    [*granian, "--port", str(port), "--factory", "tests.gateway.dsr_world:factory"],
                    log,
                    {CONFIG_ENV: str(config.resolve()), OVERRIDES_ENV: "{}"},
                )
                try:
                    procs.wait_http(f"{url}/_privacy/healthz", gateway, log_path)
                    yield DemoWorld(url, data_dir, procs.Server(url, port, gateway, log_path))
                finally:
                    procs.stop(gateway)
        finally:
            procs.stop(shop)
