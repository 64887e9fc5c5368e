"""`consentgate admin add-user NAME --role officer|operator`: create a console user.

The password comes from stdin, never from the command line (argv is visible to every local
user in `ps` and ends up in shell history). One line is read; a terminal gets a prompt
without echo. Exit codes: 0 created; 1 the user was not created (name taken or invalid,
password too short or too long); 2 the config or store could not be used.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from gateway.cli.common import EXIT_ERROR, EXIT_FAILED, EXIT_OK, add_config
from gateway.console.auth import ConsoleUsers, UserError, check_name
from gateway.console.passwords import PasswordError, hash_password
from gateway.wiring import components, load_config
from policies.loader import ConfigInvalid
from storage.store import SchemaError, StoreUnavailable, open_store


def read_password(stdin: TextIO) -> str:
    """The password: a no-echo prompt on a terminal, else the first line of stdin (without
    its line ending; other leading/trailing characters are kept as typed)."""
    if stdin.isatty():
        return getpass.getpass("Password: ")
    return stdin.readline().rstrip("\r\n")


async def _add(config_path: Path, name: str, role: str, password_hash: str) -> None:
    config = load_config(config_path).config
    store = await open_store(config.storage.url, components=components())
    try:
        await ConsoleUsers(store).add(name, role, password_hash, datetime.now(UTC))
    finally:
        await store.close()


def add_user(config_path: Path, name: str, role: str, stdin: TextIO | None = None) -> int:
    """Create `name` with `role`, its password read from stdin (scrypt-hashed before storing)."""
    try:
        check_name(name)
        password = read_password(stdin or sys.stdin)
        password_hash = hash_password(password)
        asyncio.run(_add(config_path, name, role, password_hash))
    except (UserError, PasswordError) as exc:
        print(f"admin add-user: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ConfigInvalid as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_ERROR
    except (ValueError, StoreUnavailable, SchemaError) as exc:
        print(f"admin add-user: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(f"ok: {role} {name} created")
    return EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `admin add-user`."""
    admin = sub.add_parser("admin", help="compliance console users")
    actions = admin.add_subparsers(dest="admin_command", required=True, metavar="ACTION")
    parser = actions.add_parser(
        "add-user", help="create a console user; the password is read from stdin"
    )
    add_config(parser)
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("--role", required=True, choices=["officer", "operator"])
    parser.set_defaults(run=_add_user_command)


def _add_user_command(args: argparse.Namespace) -> int:
    return add_user(args.config_path, args.name, args.role)
