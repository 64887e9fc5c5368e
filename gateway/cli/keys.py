"""`consentgate keys rotate`: start a new pseudonymization key version.

Existing visitors are not orphaned: lookups try every key version, newest first, and re-key a
visitor's link to the current version on their next visit (`consent.store.ConsentStore`).

Every rotation is recorded durably in the audit log as `keys.rotated` (actor `cli`, no subject,
only the new version number, as the public detail `key_version`: never key material) before
the command reports success.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from audit.configured import build_audit_log
from consent.master_key import load_master_key
from consent.store import ConsentStore
from gateway.cli.common import add_config
from gateway.wiring import components, load_config
from policies.loader import ConfigInvalid
from storage.store import open_store

ACTION = "keys.rotated"


async def _rotate(config_path: Path) -> int:
    loaded = load_config(config_path)
    master = load_master_key(loaded.config.keys.master_key_file)
    store = await open_store(loaded.config.storage.url, components=components())
    try:
        keyring = await ConsentStore.rotate(store, master)
        log = build_audit_log(store, loaded.config.audit, master)
        await log.start()
        try:
            await log.append_durable("cli", ACTION, public={"key_version": keyring.current})
        finally:
            await log.close()
    finally:
        await store.close()
    print(f"ok: pseudonymization key version {keyring.current} is now current")
    return 0


def rotate(config_path: Path) -> int:
    """Rotate and print the new version; 1 with a reason on an invalid config."""
    try:
        return asyncio.run(_rotate(config_path))
    except ConfigInvalid as exc:
        print(str(exc), file=sys.stderr)
        return 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `keys rotate`."""
    actions = sub.add_parser("keys", help="pseudonymization keys").add_subparsers(
        dest="keys_command", required=True, metavar="ACTION"
    )
    parser = actions.add_parser("rotate", help="start a new pseudonymization key version")
    add_config(parser)
    parser.set_defaults(run=_rotate_command)


def _rotate_command(args: argparse.Namespace) -> int:
    return rotate(args.config_path)
