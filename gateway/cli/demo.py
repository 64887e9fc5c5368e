"""`consentgate demo`: the bundled storefront with the gateway in front (gateway/demo/world.py)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `demo`."""
    demo = sub.add_parser("demo", help="start the demo storefront with the gateway in front")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--data-dir", help="where the demo keeps its store and config")
    demo.set_defaults(run=_demo_command)


def _demo_command(args: argparse.Namespace) -> int:
    # The demo world builds a geo database and starts processes: imported only to run it.
    from gateway.demo.world import run_demo

    return run_demo(port=args.port, data_dir=Path(args.data_dir) if args.data_dir else None)
