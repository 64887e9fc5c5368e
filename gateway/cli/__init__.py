"""The `consentgate` command line (contract: ../shared/contract.md, "Command line")."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway.cli.common import EXIT_BROKEN_PIPE

DEFAULT_CONFIG = Path("policies.yaml")


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


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="path to policies.yaml (default ./policies.yaml)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="consentgate", description="Privacy-first consent and personalization gateway."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="start the demo storefront with the gateway in front")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--data-dir", help="where the demo keeps its store and config")

    init = sub.add_parser("init", help="write a commented starter config (never overwrites)")
    init.add_argument("--upstream", metavar="URL", help="the shop's own address")
    init.add_argument(
        "--out", default=str(DEFAULT_CONFIG), metavar="FILE", help="default ./policies.yaml"
    )

    run = sub.add_parser("run", help="serve the gateway")
    _add_config(run)
    run.add_argument("--upstream", help="override the config's gateway.upstream")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    run.add_argument("--workers", type=int)

    check = sub.add_parser("check", help="validate the config, rule files and catalog")
    _add_config(check)

    rules = sub.add_parser("rules", help="personalization rules").add_subparsers(
        dest="rules_command", required=True, metavar="ACTION"
    )
    explain = rules.add_parser(
        "explain", help="show how the rules decide one synthetic request, and why"
    )
    _add_config(explain)
    explain.add_argument("--url", required=True, metavar="PATH", help="request path (and query)")
    explain.add_argument("--ip", help="the visitor's address (located with the geo database)")
    explain.add_argument(
        "--header", action="append", default=[], metavar="'Name: v'", help="a request header"
    )
    explain.add_argument("--consent", metavar="p1,p2", help="granted purposes (default: regime)")
    explain.add_argument("--visitor-type", metavar="T", help="new, returning, customer, ...")
    preview = rules.add_parser(
        "preview", help="print a signed link that forces a variant or visitor type on one page"
    )
    _add_config(preview)
    preview.add_argument("--url", required=True, metavar="PATH", help="the page's path")
    preview.add_argument(
        "--variant", action="append", default=[], metavar="EXP=V", help="force an experiment arm"
    )
    preview.add_argument("--visitor-type", metavar="T", help="force a visitor type")
    preview.add_argument("--ttl", default="1h", help="how long the link works (default 1h)")

    keys = sub.add_parser("keys", help="pseudonymization keys").add_subparsers(
        dest="keys_command", required=True, metavar="ACTION"
    )
    _add_config(keys.add_parser("rotate", help="start a new pseudonymization key version"))

    audit = sub.add_parser("audit", help="verify or export the tamper-evident audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = audit_sub.add_parser(
        "verify",
        help="check the whole chain and every signed checkpoint (exit 0 intact, 1 not, 2 error)",
    )
    _add_config(verify)
    verify.add_argument(
        "--public-key", help="the log's public key file (default: next to the signing key)"
    )
    export = audit_sub.add_parser("export", help="write audit entries to stdout")
    _add_config(export)
    export.add_argument("--since", help="RFC 3339 time or date, inclusive")
    export.add_argument("--until", help="RFC 3339 time or date, exclusive")
    export.add_argument("--subject", metavar="REF", help="only this subject's entries")
    export.add_argument("--format", required=True, choices=["jsonl", "csv"])

    admin = sub.add_parser("admin", help="compliance console users")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True, metavar="ACTION")
    add_user = admin_sub.add_parser(
        "add-user", help="create a console user; the password is read from stdin"
    )
    _add_config(add_user)
    add_user.add_argument("name", metavar="NAME")
    add_user.add_argument("--role", required=True, choices=["officer", "operator"])

    dsr = sub.add_parser("dsr", help="data-subject requests: export or erase a subject")
    dsr_sub = dsr.add_subparsers(dest="dsr_command", required=True, metavar="ACTION")
    dsr_export = dsr_sub.add_parser("export", help="write the subject's bundle (JSON) to stdout")
    _add_config(dsr_export)
    dsr_export.add_argument("ref", metavar="REF", help="the subject reference (CG-...)")
    dsr_delete = dsr_sub.add_parser("delete", help="erase the subject")
    _add_config(dsr_delete)
    dsr_delete.add_argument("ref", metavar="REF", help="the subject reference (CG-...)")

    retention = sub.add_parser("retention", help="data retention")
    retention_sub = retention.add_subparsers(
        dest="retention_command", required=True, metavar="ACTION"
    )
    purge = retention_sub.add_parser("purge", help="delete what outlived its period")
    _add_config(purge)
    purge.add_argument(
        "--format",
        choices=["text", "json"],
        default="text",
        help="text: a summary for people (default); json: one object for scripts",
    )

    experiments = sub.add_parser("experiments", help="A/B/n experiment results")
    experiments_sub = experiments.add_subparsers(
        dest="experiments_command", required=True, metavar="ACTION"
    )
    _add_config(
        experiments_sub.add_parser(
            "report",
            help="per variant: exposures, conversion rate, average order value, p-value",
        )
    )
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
    if args.command in ("check", "run"):
        # Both exit 1 on any config problem; the other commands keep their own exit codes.
        missing = missing_config_message(args.config)
        if missing is not None:
            # `check` prints its findings on stdout, `run` refuses to start on stderr.
            print(missing, file=sys.stdout if args.command == "check" else sys.stderr)
            return 1
    if args.command == "init":
        from gateway.cli.init import init

        return init(Path(args.out), args.upstream)
    if args.command == "demo":
        from gateway.demo.world import run_demo

        return run_demo(port=args.port, data_dir=Path(args.data_dir) if args.data_dir else None)
    # Every other command reads the config.
    config = resolve_config_path(args.config)
    if args.command == "check":
        from gateway.cli.check import check

        return check(config)
    if args.command == "rules" and args.rules_command == "preview":
        from gateway.cli.rules_preview import preview as preview_link

        return preview_link(
            config,
            url=args.url,
            variants=args.variant,
            visitor_type=args.visitor_type,
            ttl=args.ttl,
        )
    if args.command == "rules":
        from gateway.cli.rules import explain as explain_rules

        return explain_rules(
            config,
            url=args.url,
            ip=args.ip,
            headers=args.header,
            consent=args.consent,
            visitor_type=args.visitor_type,
        )
    if args.command == "keys":
        from gateway.cli.keys import rotate

        return rotate(config)
    if args.command == "run":
        from gateway.cli.run import serve

        return serve(
            config,
            upstream=args.upstream,
            host=args.host,
            port=args.port,
            workers=args.workers,
        )
    if args.command == "audit":
        from gateway.cli import audit as audit_commands

        if args.audit_command == "verify":
            public_key = Path(args.public_key) if args.public_key else None
            return audit_commands.verify(config, public_key)
        return audit_commands.export(
            config, fmt=args.format, since=args.since, until=args.until, subject=args.subject
        )
    if args.command == "dsr":
        from gateway.cli import dsr as dsr_commands

        if args.dsr_command == "export":
            return dsr_commands.export(config, args.ref)
        return dsr_commands.delete(config, args.ref)
    if args.command == "retention":
        from gateway.cli.dsr import purge

        return purge(config, fmt=args.format)
    if args.command == "experiments":
        from gateway.cli.experiments import experiments_report

        return experiments_report(config)
    if args.command == "admin":
        from gateway.cli.admin import add_user as add_console_user

        return add_console_user(config, args.name, args.role)
    print(f"consentgate: unknown command {args.command}", file=sys.stderr)  # pragma: no cover
    return 2  # pragma: no cover
