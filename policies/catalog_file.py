"""The product catalog named by `catalog`: a JSON document or a CSV table with a header row."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from policies.config_errors import ConfigError
from policies.yaml_lines import decode

FORMATS = (".json", ".csv")


def check_catalog(path: Path, raw: bytes) -> list[ConfigError]:
    """Every problem that keeps `raw` (the bytes of `path`) from parsing as a catalog."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        return [ConfigError(path, 0, "a catalog must be a .json or .csv file")]
    text, problem = decode(raw)
    if text is None:
        assert problem is not None
        return [ConfigError(path, problem.line, problem.message)]
    if suffix == ".json":
        return _check_json(path, text)
    return _check_csv(path, text)


def _check_json(path: Path, text: str) -> list[ConfigError]:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return [ConfigError(path, exc.lineno, f"invalid JSON: {exc.msg} (column {exc.colno})")]
    except RecursionError:
        return [ConfigError(path, 1, "invalid JSON: nesting is too deep")]
    return []


def _check_csv(path: Path, text: str) -> list[ConfigError]:
    # strict: a stray quote is an error instead of silently becoming part of a field.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    errors: list[ConfigError] = []
    header: list[str] | None = None
    try:
        for row in reader:
            if header is None:
                header = row
                if not any(cell.strip() for cell in header):
                    errors.append(ConfigError(path, reader.line_num, "CSV header row is empty"))
            elif row and len(row) != len(header):
                errors.append(
                    ConfigError(
                        path,
                        reader.line_num,
                        f"CSV row has {len(row)} fields, the header has {len(header)}",
                    )
                )
    except csv.Error as exc:
        errors.append(ConfigError(path, reader.line_num, f"invalid CSV: {exc}"))
    if header is None:
        errors.append(ConfigError(path, 1, "CSV catalog is empty (a header row is required)"))
    return errors
