"""The demo world with data-subject requests wired in, as real processes.

This module's `factory` is the gateway app itself, which serves the DSR routes
(`/_privacy/my-data`) over consent and profile data and audits every request and choice.
`start_dsr_world` serves it under granian in front of the demo shop, on SQLite or on a given
PostgreSQL database.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import audit.store  # noqa: F401  (registers the "audit" schema component)
import dsr.requests_store  # noqa: F401  (registers the "dsr" schema component)
from gateway.app import CONFIG_ENV, OVERRIDES_ENV, Gateway
from gateway.wiring import load_config
from tests import procs
from tests.demo_world import DemoWorld
from tests.stores import postgres_database

#: The stores a DSR world runs on, as fixture params: PostgreSQL only where one is available.
STORES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def factory() -> Gateway:
    """Granian's app factory: the gateway app itself (DSR routes are wired in it)."""
    overrides = json.loads(os.environ.get(OVERRIDES_ENV, "{}"))
    return Gateway(load_config(Path(os.environ[CONFIG_ENV]), overrides or None))


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
    granian = [sys.executable, "-m", "granian", "--interface", "asgi", "--no-ws", "--host",
               "127.0.0.1", "--no-access-log"]  # fmt: skip
    shop = [*granian, "--port", str(shop_port), "gateway.demo.shop:app"]
    gateway = [*granian, "--port", str(port), "--factory", "tests.gateway.dsr_world:factory"]
    env = {CONFIG_ENV: str(config.resolve()), OVERRIDES_ENV: "{}"}
    with (
        procs.serve("shop", shop, shop_port, "/"),
        procs.serve("gateway", gateway, port, "/_privacy/healthz", env) as server,
    ):
        yield DemoWorld(server.url, data_dir, server)


@contextlib.contextmanager
def start_dsr_world_on(store: str, data_dir: Path) -> Iterator[DemoWorld]:
    """`start_dsr_world` on a fresh database of `store` (one of `STORES`)."""
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(postgres_database()) if store == "postgresql" else None
        yield stack.enter_context(start_dsr_world(data_dir, store_url=url))
