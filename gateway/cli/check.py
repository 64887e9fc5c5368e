"""Subcommands of `consentgate` that run once and exit (the long-running ones live elsewhere)."""

from __future__ import annotations

from pathlib import Path

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
