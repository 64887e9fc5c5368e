"""`consentgate audit verify` and `consentgate audit export`.

Exit codes: 0 intact / exported; 1 the log is not intact (the first bad entry is named) or,
for export, an unknown `--subject`; 2 nothing could be checked (bad config, missing key,
unreachable store, bad `--since`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TextIO

from sqlalchemy import inspect, select

from audit.checkpoint import NoteVerifier
from audit.export import Format, writer
from audit.signing_key import (
    SigningKeyError,
    public_key_path,
    read_verifier,
)
from audit.store import EntryFilter, iter_records
from audit.subject_crypto import is_subject_id
from audit.verify_store import verify_store
from gateway.cli.common import (
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_OK,
    CommandError,
    add_config,
    command_config,
)
from gateway.wiring import components
from policies.models import AuditSettings, Config
from storage.store import SchemaError, Store, StoreUnavailable, open_store


async def resolve_subject_ref(store: Store, ref: str) -> str | None:
    """The subject id a customer's `subject_ref` names, or None if unknown (raw subject ids,
    `sub_…`, are accepted before this is called)."""
    from consent.pseudonyms import parse_subject_ref
    from consent.store import cg_subjects

    async with store.engine.connect() as conn:
        # A store that only ever held the audit log (no consent tables) knows no reference.
        if not await conn.run_sync(lambda c: inspect(c).has_table(cg_subjects.name)):
            return None
        subject: str | None = await conn.scalar(
            select(cg_subjects.c.id).where(
                cg_subjects.c.ref == (parse_subject_ref(ref) or ref.strip())
            )
        )
    return subject


async def _open(config: Config) -> Store:
    try:
        return await open_store(config.storage.url, components=components())
    except (ValueError, StoreUnavailable, SchemaError) as exc:
        raise CommandError(f"audit: {exc}") from None


def _verifier(settings: AuditSettings, public_key: Path | None) -> NoteVerifier:
    """`--public-key FILE`, else `<signing key>.pub`, else the signing key's public half."""
    candidates = [public_key] if public_key else []
    if not candidates:
        candidates = [public_key_path(settings.signing_key_file), settings.signing_key_file]
    for path in candidates:
        if public_key is not None or path.exists():
            try:
                return read_verifier(path)
            except SigningKeyError as exc:
                raise CommandError(f"audit: {exc}") from None
    raise CommandError(f"audit: no public key: pass --public-key FILE (none at {candidates[0]})")


# --- verify ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyOutcome:
    """What `audit verify` prints and returns."""

    code: int
    message: str


async def _verify(config: Config, public_key: Path | None) -> VerifyOutcome:
    settings = config.audit
    verifier = _verifier(settings, public_key)
    store = await _open(config)
    try:
        checked = await verify_store(store, settings, verifier)
    finally:
        await store.close()
    if not checked.report.ok:
        return VerifyOutcome(EXIT_FAILED, checked.message())
    witnessed = " (and the sink's latest)" if checked.witnessed else ""
    return VerifyOutcome(EXIT_OK, checked.message() + witnessed)


def verify(config_path: Path, public_key: Path | None = None) -> int:
    """`consentgate audit verify`: check the whole chain and every signed checkpoint.

    Prints `ok: N entries, M checkpoints verified` and returns 0, or the problem naming the
    first bad entry (`entry seq N: KIND: detail`) and returns 1; 2 when it cannot check.
    """
    try:
        outcome = asyncio.run(_verify(command_config(config_path), public_key))
    except CommandError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_ERROR
    print(outcome.message)
    return outcome.code


# --- export ---------------------------------------------------------------------------------------


def parse_time(value: str, flag: str) -> datetime:
    """An RFC 3339 date-time (offset required) or a plain date (midnight UTC)."""
    text = value.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{flag}: {value!r} is not an RFC 3339 time") from None
    if parsed.tzinfo is None:
        # RFC 3339 §5.6: a time-offset is required; guessing the zone would shift the window.
        raise CommandError(f"{flag}: {value!r} needs a UTC offset, e.g. Z or +02:00")
    return parsed.astimezone(UTC)


async def _export(
    config: Config,
    fmt: Format,
    since: datetime | None,
    until: datetime | None,
    subject_ref: str | None,
    out: TextIO,
) -> int:
    store = await _open(config)
    try:
        subject: str | None = None
        if subject_ref is not None:
            subject = (
                subject_ref
                if is_subject_id(subject_ref)
                else await resolve_subject_ref(store, subject_ref)
            )
            if subject is None:
                print(f"audit export: unknown subject {subject_ref!r}", file=sys.stderr)
                return EXIT_FAILED
        write = writer(fmt, out)
        where = EntryFilter(since=since, until=until, subject=subject)
        async for record in iter_records(store, config.audit.chain, where):
            write(record)
    finally:
        await store.close()
    return EXIT_OK


def export(
    config_path: Path,
    *,
    fmt: Format,
    since: str | None = None,
    until: str | None = None,
    subject: str | None = None,
    out: TextIO | None = None,
) -> int:
    """`consentgate audit export`: the chain's entries (filtered) to stdout as JSONL or CSV.

    `since` is inclusive, `until` exclusive; `subject` is a `subject_ref` or a raw `sub_…` id.
    Returns 0, 1 for an unknown subject, 2 when nothing could be read.
    """
    target = out if out is not None else sys.stdout
    try:
        window = (
            parse_time(since, "--since") if since else None,
            parse_time(until, "--until") if until else None,
        )
        config = command_config(config_path)
        code = asyncio.run(_export(config, fmt, *window, subject, target))
    except CommandError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_ERROR
    target.flush()
    return code


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `audit verify` and `audit export`."""
    audit = sub.add_parser("audit", help="verify or export the tamper-evident audit log")
    actions = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify_parser = actions.add_parser(
        "verify",
        help="check the whole chain and every signed checkpoint (exit 0 intact, 1 not, 2 error)",
    )
    add_config(verify_parser)
    verify_parser.add_argument(
        "--public-key", help="the log's public key file (default: next to the signing key)"
    )
    verify_parser.set_defaults(run=_verify_command)
    export_parser = actions.add_parser("export", help="write audit entries to stdout")
    add_config(export_parser)
    export_parser.add_argument("--since", help="RFC 3339 time or date, inclusive")
    export_parser.add_argument("--until", help="RFC 3339 time or date, exclusive")
    export_parser.add_argument("--subject", metavar="REF", help="only this subject's entries")
    export_parser.add_argument("--format", required=True, choices=["jsonl", "csv"])
    export_parser.set_defaults(run=_export_command)


def _verify_command(args: argparse.Namespace) -> int:
    return verify(args.config_path, Path(args.public_key) if args.public_key else None)


def _export_command(args: argparse.Namespace) -> int:
    return export(
        args.config_path,
        fmt=args.format,
        since=args.since,
        until=args.until,
        subject=args.subject,
    )
