"""The audit log's export format: the contract's columns, as JSONL or as CSV.

One entry per line (JSONL) or row (CSV, RFC 4180, header first), columns in `COLUMNS` order;
`data` and `public` as canonical JSON inside a CSV cell. Used by `consentgate audit export` and
the console's export download.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Mapping
from typing import Literal, TextIO

from audit.envelope import canonical_json

Format = Literal["jsonl", "csv"]
# The contract's entry fields, in this order: `public` (the non-personal details; null for
# version-1 entries, which predate it) after the sealed `data`, and `v` (the envelope version,
# needed to recompute `hash` from an export) last.
COLUMNS = (
    "seq", "ts", "chain", "prev_hash", "hash", "actor", "action", "subject", "data", "public", "v",
)  # fmt: skip
# OWASP "CSV Injection": a spreadsheet runs a cell starting with these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


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


def writer(fmt: Format, out: TextIO) -> Callable[[Mapping[str, object]], None]:
    """A function writing one stored entry to `out` per call, as JSONL or CSV (with its header).

    CSV cells that a spreadsheet would run as a formula get a leading `'`.
    """
    if fmt == "jsonl":

        def write_json(record: Mapping[str, object]) -> None:
            out.write(json.dumps(_row(record), ensure_ascii=False, separators=(",", ":")) + "\n")

        return write_json
    rows = csv.writer(out)  # RFC 4180: CRLF line ends, quotes where needed
    rows.writerow(COLUMNS)

    def write_csv(record: Mapping[str, object]) -> None:
        rows.writerow([_csv_cell(v) for v in _row(record).values()])

    return write_csv
