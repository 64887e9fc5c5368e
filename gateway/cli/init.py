"""`consentgate init`: write a commented starter config for an operator's own shop."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import ValidationError

from gateway.cli.common import DEFAULT_CONFIG, EXIT_ERROR, EXIT_FAILED
from policies.models import GatewaySettings
from policies.starter import GEO_DATABASE, render_starter_config

DEFAULT_UPSTREAM = "http://127.0.0.1:8081"
# The contract's exit 1 (EXIT_FAILED) is for an existing FILE; a file that cannot be created is
# the same outcome for a script (nothing was written).


def init(out: Path, upstream: str | None) -> int:
    """Write the starter config to `out`; never overwrite (exit 1 when `out` exists)."""
    shop = upstream or DEFAULT_UPSTREAM
    try:
        # The same check `consentgate check` applies, so the file written always loads.
        shop = GatewaySettings(upstream=shop).upstream
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
        print(f"consentgate init: --upstream {shop!r}: {reason}", file=sys.stderr)
        return EXIT_ERROR
    text = render_starter_config(shop)
    try:
        # "x": created only if absent, atomically, so two runs cannot both write it.
        with out.open("x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        print(f"{out}: exists; not overwritten (remove it or pass --out FILE)", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:
        print(f"{out}: cannot write: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"wrote {out} (shop at {shop})")
    print("next:")
    print(f"  consentgate check --config {out}")
    print(f"  consentgate run --config {out}")
    if upstream is None:
        print(f"  (the shop's address is a placeholder, {shop}: edit gateway.upstream)")
    geo = out.parent / GEO_DATABASE
    print(f"  put a MaxMind-format city database at {geo}; until then every visitor gets")
    print("  the strictest regime (gdpr), wherever they are")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `init`."""
    parser = sub.add_parser("init", help="write a commented starter config (never overwrites)")
    parser.add_argument("--upstream", metavar="URL", help="the shop's own address")
    parser.add_argument(
        "--out", default=str(DEFAULT_CONFIG), metavar="FILE", help="default ./policies.yaml"
    )
    parser.set_defaults(run=_init_command)


def _init_command(args: argparse.Namespace) -> int:
    return init(Path(args.out), args.upstream)
