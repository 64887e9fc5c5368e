"""`consentgate run`: validate the config, log its hash, serve the app under granian.

granian (Rust, hyper's HTTP/1.1 parser) was chosen over uvicorn by measurement; see README
"Dependencies".
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from gateway.cli.common import add_config
from gateway.wiring import load_config
from policies.loader import ConfigInvalid

log = logging.getLogger("consentgate")


def configure_logging() -> None:
    """One line per event on stderr; never request bodies or raw identifiers."""
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


def serve(
    config_path: Path,
    *,
    upstream: str | None = None,
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
) -> int:
    """Run the gateway until interrupted; 1 (with FILE:LINE lines) on an invalid config."""
    configure_logging()
    overrides = {
        k: v
        for k, v in {"upstream": upstream, "host": host, "port": port, "workers": workers}.items()
        if v is not None
    }
    try:
        loaded = load_config(config_path, overrides or None)
    except ConfigInvalid as exc:
        print(str(exc), file=sys.stderr)
        print("consentgate: refusing to start on an invalid config", file=sys.stderr)
        return 1
    settings = loaded.config.gateway
    log.info("config loaded path=%s sha256=%s", loaded.path, loaded.sha256)
    from gateway.wiring import open_geo
    from personalization_rules.geo import GeoDatabaseError

    try:
        open_geo(loaded.config.geo)
    except GeoDatabaseError as exc:
        # A missing or corrupt geo database is a clear error at start, unless geo.optional.
        print(f"consentgate: {exc} (set geo.optional: true to run without it)", file=sys.stderr)
        return 1

    from granian import Granian
    from granian.constants import Interfaces, Loops

    os.environ["CONSENTGATE_RESOLVED_CONFIG"] = str(Path(loaded.path).resolve())
    os.environ["CONSENTGATE_OVERRIDES"] = json.dumps(overrides)
    server = Granian(
        "gateway.app:factory",
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        loop=Loops.uvloop,
        log_access=False,
        websockets=True,
        # A worker that dies (a crash in native code, the OOM killer) is replaced; without
        # this granian shuts the whole gateway down with it.
        respawn_failed_workers=True,
    )
    server.serve()
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `run`."""
    parser = sub.add_parser("run", help="serve the gateway")
    add_config(parser)
    parser.add_argument("--upstream", help="override the config's gateway.upstream")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--workers", type=int)
    # Refuses to start without a config, saying so on stderr like any other config problem.
    parser.set_defaults(run=_serve_command, missing_config_to="stderr")


def _serve_command(args: argparse.Namespace) -> int:
    return serve(
        args.config_path,
        upstream=args.upstream,
        host=args.host,
        port=args.port,
        workers=args.workers,
    )
