"""`consentgate audit verify` and `consentgate audit export`, and the audit log's wiring.

Exit codes: 0 intact / exported; 1 the log is not intact (the first bad entry is named) or,
for export, an unknown `--subject`; 2 nothing could be checked (bad config, missing key,
unreachable store, bad `--since`).
"""

from __future__ import annotations

import asyncio
import csv
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal, TextIO

from sqlalchemy import inspect, select

from audit.checkpoint import NoteVerifier
from audit.envelope import canonical_json
from audit.log import AuditLog, CheckpointPolicy, Clock
from audit.signing_key import (
    SigningKeyError,
    load_or_create_signer,
    public_key_path,
    read_verifier,
)
from audit.sinks import CheckpointSink, FileSink, WebhookSink, latest_note
from audit.store import EntryFilter, iter_records, load_notes, load_records
from audit.subject_crypto import is_subject_id
from audit.verify import verify_log
from policies.loader import ConfigInvalid, load_config
from policies.models import AuditSettings, Config
from storage.store import SchemaError, Store, StoreUnavailable, open_store

Format = Literal["jsonl", "csv"]
# The contract's entry fields, in this order: `public` (the non-personal details; null for
# version-1 entries, which predate it) after the sealed `data`, and `v` (the envelope version,
# needed to recompute `hash` from an export) last.
COLUMNS = (
    "seq", "ts", "chain", "prev_hash", "hash", "actor", "action", "subject", "data", "public", "v",
)  # fmt: skip
# OWASP "CSV Injection": a spreadsheet runs a cell starting with these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

EXIT_OK, EXIT_BAD, EXIT_ERROR = 0, 1, 2


class CommandError(Exception):
    """Something that stops a command before it can check or export anything (exit 2)."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def build_audit_log(
    store: Store, settings: AuditSettings, master_key: bytes, *, clock: Clock | None = None
) -> AuditLog:
    """The gateway's `AuditLog` for `settings` (signing key created on first start).

    Call `await log.start()` after opening the store and `await log.close()` before closing it.
    """
    signer = load_or_create_signer(settings.signing_key_file, settings.origin)
    sinks: list[CheckpointSink] = []
    if settings.sink_file is not None:
        sinks.append(FileSink(settings.sink_file))
    if settings.webhook_url is not None:
        sinks.append(WebhookSink(settings.webhook_url))
    return AuditLog(
        store,
        chain=settings.chain,
        signer=signer,
        master_key=master_key,
        origin=settings.origin,
        policy=CheckpointPolicy(
            settings.checkpoint_every_entries, settings.checkpoint_every_seconds
        ),
        sinks=sinks,
        queue_size=settings.queue_size,
        batch_max=settings.batch_max,
        clock=clock or _utcnow,
    )


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


def _config(config_path: Path) -> Config:
    try:
        return load_config(config_path).config
    except ConfigInvalid as exc:
        raise CommandError(str(exc)) from None


async def _open(config: Config) -> Store:
    try:
        return await open_store(config.storage.url)
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
    remembered: list[str] = []
    if settings.sink_file is not None:
        note = latest_note(settings.sink_file, settings.chain)
        remembered = [note] if note is not None else []
    store = await _open(config)
    try:
        records = await load_records(store, settings.chain)
        notes = await load_notes(store, settings.chain)
    finally:
        await store.close()
    report = verify_log(
        records,
        notes,
        [verifier],
        origin=settings.origin,
        chain=settings.chain,
        remembered=remembered,
    )
    if report.problem is not None:
        return VerifyOutcome(EXIT_BAD, f"audit verify failed: {report.problem}")
    witnessed = " (and the sink's latest)" if remembered else ""
    return VerifyOutcome(
        EXIT_OK,
        f"ok: {report.entries} entries, {report.checkpoints} checkpoints verified{witnessed}",
    )


def verify(config_path: Path, public_key: Path | None = None) -> int:
    """`consentgate audit verify`: check the whole chain and every signed checkpoint.

    Prints `ok: N entries, M checkpoints verified` and returns 0, or the problem naming the
    first bad entry (`entry seq N: KIND: detail`) and returns 1; 2 when it cannot check.
    """
    try:
        outcome = asyncio.run(_verify(_config(config_path), public_key))
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


def _row(record: Mapping[str, object]) -> dict[str, object]:
    return {name: record.get(name) for name in COLUMNS}


def _csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        text = canonical_json(value).decode("utf-8")
    else:
        text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _writer(fmt: Format, out: TextIO) -> Callable[[Mapping[str, object]], None]:
    if fmt == "jsonl":

        def write_json(record: Mapping[str, object]) -> None:
            out.write(json.dumps(_row(record), ensure_ascii=False, separators=(",", ":")) + "\n")

        return write_json
    writer = csv.writer(out)  # RFC 4180: CRLF line ends, quotes where needed
    writer.writerow(COLUMNS)

    def write_csv(record: Mapping[str, object]) -> None:
        writer.writerow([_csv_cell(v) for v in _row(record).values()])

    return write_csv


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
                return EXIT_BAD
        write = _writer(fmt, out)
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
        config = _config(config_path)
        code = asyncio.run(_export(config, fmt, *window, subject, target))
    except CommandError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_ERROR
    target.flush()
    return code
