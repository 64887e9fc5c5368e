"""Subcommands of `consentgate` that run once and exit (the long-running ones live elsewhere)."""

from __future__ import annotations

import argparse
from pathlib import Path

from gateway.cli.common import add_config
from gateway.wiring import load_config
from policies.loader import ConfigInvalid


def check(config_path: Path) -> int:
    """`consentgate check`: validate the config, every rule file and the catalog.

    Prints one `FILE:LINE: message` line per error and returns 1, or prints one
    `FILE:LINE: warning: message` line per warning, then `ok: PATH (sha256 HASH)`, and returns
    0. The error text is exactly what `consentgate run` prints when it refuses to start.
    """
    try:
        loaded = load_config(config_path)
    except ConfigInvalid as exc:
        print(str(exc))
        return 1
    for warning in loaded.warnings:
        print(warning)
    print(f"ok: {loaded.path} (sha256 {loaded.sha256})")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `check`."""
    parser = sub.add_parser("check", help="validate the config, rule files and catalog")
    add_config(parser)
    # A missing config is a finding like any other: reported on stdout with the rest.
    parser.set_defaults(run=_check_command, missing_config_to="stdout")


def _check_command(args: argparse.Namespace) -> int:
    return check(args.config_path)
