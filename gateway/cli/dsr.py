"""`consentgate dsr export REF`, `consentgate dsr delete REF`, `consentgate retention purge`.

Exit codes (contract "Command line"): 0 done; 1 unknown subject; 2 nothing could be done
(bad config, unreachable store). Each command runs its own audit log against the store, so
the gateway may keep running: appends from both serialize on the store's lock.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Coroutine
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO

from gateway.cli.common import (
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    add_config,
    command_config,
)
from policies.models import Config, RetentionSettings
from storage.store import SchemaError, StoreUnavailable

if TYPE_CHECKING:
    from dsr.retention import PurgeCounts

PurgeFormat = Literal["text", "json"]


def _run(command: Coroutine[Any, Any, int]) -> int:
    try:
        return asyncio.run(command)
    except BrokenPipeError:
        raise  # the reader went away: the command line's entry ends quietly
    except (ValueError, StoreUnavailable, SchemaError, OSError) as exc:
        print(f"consentgate: {exc}", file=sys.stderr)
        return EXIT_ERROR


async def _export(config: Config, ref: str, out: TextIO) -> int:
    from dsr.service import cli_actor
    from gateway.wiring import standalone_dsr

    async with standalone_dsr(config) as service:
        subject = await service.subject(ref)
        if subject is None:
            print(f"dsr export: unknown subject {ref!r}", file=sys.stderr)
            return EXIT_FAILED
        bundle = await service.export(subject, actor=cli_actor(), via="cli")
    json.dump(bundle, out, ensure_ascii=False, indent=2)
    out.write("\n")
    return EXIT_OK


async def _delete(config: Config, ref: str) -> int:
    from dsr.service import cli_actor
    from gateway.wiring import standalone_dsr

    async with standalone_dsr(config) as service:
        subject = await service.subject(ref)
        if subject is None:
            print(f"dsr delete: unknown subject {ref!r}", file=sys.stderr)
            return EXIT_FAILED
        await service.erase(subject, actor=cli_actor(), via="cli")
    print(f"erased {ref}")
    return EXIT_OK


async def _purge(config: Config, out: TextIO, fmt: PurgeFormat) -> int:
    from dsr.retention import purge_and_record
    from dsr.service import cli_actor
    from gateway.wiring import standalone_dsr

    async with standalone_dsr(config) as service:
        counts = await purge_and_record(
            service.store,
            service.schema,
            config.retention,
            service.audit,
            datetime.now(UTC),
            cli_actor(),
        )
    if fmt == "json":
        out.write(json.dumps({"purged": asdict(counts), "total": counts.total}) + "\n")
    else:
        out.write(purge_summary(counts, config.retention))
    return EXIT_OK


# What each count is, in the words of the retention settings it comes from.
_PURGE_LABELS = {
    "consent_records": ("consent records", "consent_records_days"),
    "events": ("shop events", "events_days"),
    "exposures": ("experiment exposures", "events_days"),
    "profiles": ("profiles", "profiles_days"),
    "decisions": ("personalization decisions", "decisions_days"),
    "dsr_requests": ("completed data-subject requests", "dsr_requests_days"),
}


def purge_summary(counts: PurgeCounts, settings: RetentionSettings) -> str:
    """The human summary of one purge: a total line, then one line per category with the
    retention period that applied ("kept forever" when none is set)."""
    total = counts.total
    lines = [f"retention purge: {total} row{'s' if total != 1 else ''} deleted"]
    for name, count in asdict(counts).items():
        label, setting = _PURGE_LABELS[name]
        days = getattr(settings, setting)
        period = f"older than {days} days" if days is not None else "kept forever"
        lines.append(f"  {label + ':':<34}{count:>7}  ({period})")
    return "\n".join(lines) + "\n"


def export(config_path: Path, ref: str, out: TextIO | None = None) -> int:
    """`dsr export REF`: the subject's bundle as JSON on stdout; 1 when REF is unknown."""
    try:
        config = command_config(config_path)
    except CommandError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_ERROR
    return _run(_export(config, ref, out or sys.stdout))


def delete(config_path: Path, ref: str) -> int:
    """`dsr delete REF`: erase the subject (contract "Erasure"); 1 when REF is unknown."""
    try:
        config = command_config(config_path)
    except CommandError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_ERROR
    return _run(_delete(config, ref))


def purge(config_path: Path, out: TextIO | None = None, *, fmt: PurgeFormat = "text") -> int:
    """`retention purge`: delete what outlived its period; prints a summary (``fmt="text"``)
    or the counts as one JSON object (``fmt="json"``)."""
    try:
        config = command_config(config_path)
    except CommandError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_ERROR
    return _run(_purge(config, out or sys.stdout, fmt))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `dsr export`, `dsr delete` and `retention purge`."""
    dsr = sub.add_parser("dsr", help="data-subject requests: export or erase a subject")
    actions = dsr.add_subparsers(dest="dsr_command", required=True, metavar="ACTION")
    export_parser = actions.add_parser("export", help="write the subject's bundle (JSON) to stdout")
    add_config(export_parser)
    export_parser.add_argument("ref", metavar="REF", help="the subject reference (CG-...)")
    export_parser.set_defaults(run=_export_command)
    delete_parser = actions.add_parser("delete", help="erase the subject")
    add_config(delete_parser)
    delete_parser.add_argument("ref", metavar="REF", help="the subject reference (CG-...)")
    delete_parser.set_defaults(run=_delete_command)

    retention = sub.add_parser("retention", help="data retention")
    retention_actions = retention.add_subparsers(
        dest="retention_command", required=True, metavar="ACTION"
    )
    purge_parser = retention_actions.add_parser("purge", help="delete what outlived its period")
    add_config(purge_parser)
    purge_parser.add_argument(
        "--format",
        choices=["text", "json"],
        default="text",
        help="text: a summary for people (default); json: one object for scripts",
    )
    purge_parser.set_defaults(run=_purge_command)


def _export_command(args: argparse.Namespace) -> int:
    return export(args.config_path, args.ref)


def _delete_command(args: argparse.Namespace) -> int:
    return delete(args.config_path, args.ref)


def _purge_command(args: argparse.Namespace) -> int:
    return purge(args.config_path, fmt=args.format)
