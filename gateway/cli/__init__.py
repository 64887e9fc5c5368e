"""The `consentgate` command line (contract: ../shared/contract.md, "Command line")."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway.cli import (
    admin,
    audit,
    check,
    demo,
    dsr,
    experiments,
    init,
    keys,
    rules,
    run,
)
from gateway.cli.common import DEFAULT_CONFIG, EXIT_BROKEN_PIPE

# The command groups in the order `consentgate --help` lists them. Each module's `register`
# adds its parser(s) with `set_defaults(run=handler)`; a handler keeps its heavy imports
# (the app, granian, the demo world) inside, so `--help` stays quick.
COMMANDS = (demo, init, run, check, rules, keys, audit, admin, dsr, experiments)


def resolve_config_path(given: str | None) -> Path:
    """`--config`, else `./policies.yaml`, else `$CONSENTGATE_CONFIG` (contract order)."""
    if given:
        return Path(given)
    if DEFAULT_CONFIG.exists() or "CONSENTGATE_CONFIG" not in os.environ:
        return DEFAULT_CONFIG
    return Path(os.environ["CONSENTGATE_CONFIG"])


def missing_config_message(given: str | None) -> str | None:
    """Why no config was found, naming every place looked and how to name one; None if found.

    Only for the search (`--config` absent): a path the operator named is reported by the
    loader as `FILE:0: config file not found`, like any other file problem.
    """
    if given:
        return None
    path = resolve_config_path(None)
    if path.exists():
        return None
    env = os.environ.get("CONSENTGATE_CONFIG")
    looked = [f"./{DEFAULT_CONFIG} ({DEFAULT_CONFIG.resolve()})"]
    if env:
        looked.append(f"$CONSENTGATE_CONFIG ({env}{'' if Path(env).exists() else ': not found'})")
    else:
        looked.append("$CONSENTGATE_CONFIG (not set)")
    return (
        f"{path}:0: config file not found; looked in " + " and ".join(looked) + ". "
        "Name one with --config FILE or $CONSENTGATE_CONFIG, or write a starter config with "
        "`consentgate init`"
    )


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, each command group adding its own parsers and handler."""
    parser = argparse.ArgumentParser(
        prog="consentgate", description="Privacy-first consent and personalization gateway."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script and of `python -m gateway`.

    A reader that closes the pipe early (`consentgate audit export … | head -1`) ends the
    command quietly with `EXIT_BROKEN_PIPE`, as Unix tools do, instead of a traceback.
    """
    try:
        code = _dispatch(argv)
        sys.stdout.flush()
    except BrokenPipeError:
        # Python docs, signal module, "Note on SIGPIPE": point stdout at devnull so the
        # interpreter's final flush of the buffered rest does not raise a second time.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    return code


def _dispatch(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if "config" in vars(args):
        # A command that cannot start without a config (`check`, `run`) names the stream
        # that reports a missing one; the others leave it to the loader's `FILE:0:` line.
        missing_to = getattr(args, "missing_config_to", None)
        missing = missing_config_message(args.config) if missing_to else None
        if missing is not None:
            print(missing, file=sys.stdout if missing_to == "stdout" else sys.stderr)
            return 1
        args.config_path = resolve_config_path(args.config)
    code: int = args.run(args)
    return code
