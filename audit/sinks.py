"""Checkpoint sinks: copies of every signed checkpoint kept where the operator cannot rewrite
them, so a store rolled back or rewritten later contradicts a checkpoint seen earlier.

* ``FileSink``: appends to a file (point it at append-only storage: a ``chattr +a`` file, a
  WORM mount, a log shipper's spool). Format, one line per checkpoint, JSON Lines::

      {"chain":"main","note":"<signed note text>"}\\n

  Each line is written with a single ``write`` on an ``O_APPEND`` descriptor and fsynced,
  so lines from several gateway processes never interleave. ``audit verify`` reads it back
  with ``read_notes`` and passes the largest checkpoint as ``remembered``.
* ``WebhookSink``: POSTs each note (``text/plain; charset=utf-8``, header
  ``X-Consentgate-Chain``) to a URL, e.g. a witness or a log collector. Failures are
  logged, never raised: a witness being down must not stop the audit log.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Protocol

import httpx

from audit.checkpoint import NoteError, parse_checkpoint_body

log = logging.getLogger("consentgate.audit")

WEBHOOK_TIMEOUT_S = 3.0


class CheckpointSink(Protocol):
    """Somewhere a new signed checkpoint is pushed after it is committed to the store."""

    async def push(self, chain: str, note: str) -> None:
        """Deliver one signed note; must not raise for delivery failures."""
        ...

    async def close(self) -> None:
        """Release resources."""
        ...


class FileSink:
    """Append each signed checkpoint as a JSON line to ``path`` (created 0600 if missing)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _append(self, line: bytes) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    async def push(self, chain: str, note: str) -> None:
        """Append the note; an I/O failure is logged."""
        line = json.dumps({"chain": chain, "note": note}, ensure_ascii=False) + "\n"
        try:
            await asyncio.to_thread(self._append, line.encode("utf-8"))
        except OSError as exc:
            log.error("audit checkpoint sink %s: cannot append: %s", self.path, exc)

    async def close(self) -> None:
        """Nothing is kept open between pushes."""


class WebhookSink:
    """POST each signed checkpoint to ``url``; failures are logged, never raised."""

    def __init__(self, url: str, timeout: float = WEBHOOK_TIMEOUT_S) -> None:
        self.url = url
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def push(self, chain: str, note: str) -> None:
        """POST the note text."""
        try:
            response = await self._client.post(
                self.url,
                content=note.encode("utf-8"),
                headers={
                    "Content-Type": "text/plain; charset=utf-8",
                    "X-Consentgate-Chain": chain,
                },
            )
        except httpx.HTTPError as exc:
            log.warning("audit checkpoint webhook %s failed: %s", self.url, exc)
            return
        if response.status_code >= 300:
            log.warning("audit checkpoint webhook %s answered %d", self.url, response.status_code)

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.aclose()


def read_notes(path: Path, chain: str) -> list[str]:
    """Every note for ``chain`` in a ``FileSink`` file, in file order; [] if it is missing.

    A line that is not a JSON object with string ``chain`` and ``note`` (e.g. a torn last
    write after a crash) is skipped: the sink is a witness, the store is what gets verified.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    notes = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if (
            isinstance(value, dict)
            and value.get("chain") == chain
            and isinstance(value.get("note"), str)
        ):
            notes.append(value["note"])
    return notes


def _size(note: str) -> int:
    """The tree size a note claims (unverified; verification happens later)."""
    try:
        split = note.rfind("\n\n")
        return parse_checkpoint_body(note[: split + 1]).size
    except (NoteError, ValueError):
        return -1


def latest_note(path: Path, chain: str) -> str | None:
    """The sink's well-formed note with the largest tree size (last on ties), or None.

    Largest, not last: several nodes push after their own commits, so the file order may
    lag the log's order by a checkpoint.
    """
    best: tuple[int, str] | None = None
    for note in read_notes(path, chain):
        size = _size(note)
        if size >= 0 and (best is None or size >= best[0]):
            best = (size, note)
    return None if best is None else best[1]
