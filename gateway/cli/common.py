"""What the `consentgate` commands share: their exit codes, the errors that end one early, and
loading the config for a command that acts on the store.

Exit codes (contract, "Command line"): 0 done; 1 the command ran and the answer is no (the log
is not intact, an unknown subject, a user not created, a file not written); 2 nothing could be
done (a bad config or flag, an unreachable store). Commands never import each other: what two
of them need lives here.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gateway.wiring import load_config
from policies.loader import ConfigInvalid
from policies.models import Config

EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2
# 128 + SIGPIPE: what a shell reports for `cat`, `grep` or `yes` when the reader of their
# output went away. Not 0: the output stopped early (a `set -o pipefail` caller can tell an
# export cut short by `head` from a complete one); not 1, which our commands use for findings.
EXIT_BROKEN_PIPE = 128 + 13

# Where a command looks first for its config (contract, "Command line").
DEFAULT_CONFIG = Path("policies.yaml")


class CommandError(Exception):
    """Stops a command before it could act (the message is printed, exit 2)."""


class UsageError(ValueError):
    """A flag value that cannot be used (the message is printed, exit 2)."""


def add_config(parser: argparse.ArgumentParser) -> None:
    """The `--config` flag; `main` resolves it into `args.config_path` before the handler runs."""
    parser.add_argument("--config", help="path to policies.yaml (default ./policies.yaml)")


def command_config(config_path: Path) -> Config:
    """The validated config, or `CommandError` with the loader's `FILE:LINE: message` lines."""
    try:
        return load_config(config_path).config
    except ConfigInvalid as exc:
        raise CommandError(str(exc)) from None
