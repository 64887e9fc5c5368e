"""Load `policies.yaml`, the rule files and the catalog it names into `policies.models.Config`.

Every problem in any of those files becomes one `ConfigError` (`FILE:LINE: message`) and all
of them are raised together as `ConfigInvalid`: YAML syntax, duplicate keys, unknown keys
(with "did you mean"), wrong types, missing keys (on the line of their parent mapping), bad
patterns (URL, CIDR, cookie glob, host), and files that are missing (on the line of the key
naming them) or do not parse. Relative paths are resolved against the config file's directory,
so the app only ever sees absolute paths. Nothing here reads the environment.

The rule schema belongs to `personalization_rules`, which builds on these models; the caller
passes its checker in (`check_rules`), so `policies` imports no other package of ours.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from policies.catalog_file import check_catalog
from policies.config_errors import ConfigError, ConfigInvalid, ConfigWarning
from policies.config_warnings import config_warnings
from policies.models import Config
from policies.rule_files import RuleFile, read_rule_files
from policies.validation_errors import describe
from policies.yaml_lines import Path_, YamlDocument, decode, parse

__all__ = [
    "ConfigError",
    "ConfigInvalid",
    "ConfigWarning",
    "LoadedConfig",
    "OVERRIDABLE",
    "RuleCheck",
    "load_config",
]

# `consentgate run --upstream/--host/--port/--workers` replace these `gateway.*` keys.
OVERRIDABLE = ("upstream", "host", "port", "workers")
DEFAULT_RULES_DIRECTORY = "rules"

_Model = TypeVar("_Model", bound=BaseModel)

# Every problem in the rule files, given the validated config (slots, purposes, data uses).
RuleCheck = Callable[[Sequence[RuleFile], Config], list[ConfigError]]


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config with where it came from and a fingerprint of everything it read.

    `sha256` is the hex SHA-256 over a sequence of framed parts, each
    `LABEL || 0x00 || len(BYTES) as 8-byte big-endian || BYTES`, in this order:
    `config` (the bytes of the config file); `rules/NAME` for each rule file (its bytes), by
    name; `catalog` (the catalog's bytes) when one is named. Overrides are not part of it.
    `rule_files` holds each rule file's YAML with line numbers for the rule loader.
    """

    config: Config
    path: Path
    sha256: str
    rule_files: tuple[RuleFile, ...] = ()
    # Valid, but probably not what the operator meant (`consentgate check` prints them).
    warnings: tuple[ConfigWarning, ...] = ()


def load_config(
    path: Path, overrides: Mapping[str, object] | None = None, *, check_rules: RuleCheck
) -> LoadedConfig:
    """Read and validate `path` and the files it names; raise `ConfigInvalid` with all errors.

    `overrides` (keys from `OVERRIDABLE`; None values are ignored) replace `gateway.*` keys and
    go through the same validation; their errors name the flag (`--upstream`) on line 0.
    `check_rules` reports the rule files' schema errors once the config itself is valid.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigInvalid([ConfigError(path, 0, "config file not found")]) from None
    except OSError as exc:
        message = f"cannot read config file: {exc.strerror or exc}"
        raise ConfigInvalid([ConfigError(path, 0, message)]) from None
    text, problem = decode(raw)
    if text is None:
        assert problem is not None
        raise ConfigInvalid([ConfigError(path, problem.line, problem.message)])
    parsed = parse(text)
    errors = [ConfigError(path, p.line, p.message) for p in parsed.problems]
    if parsed.document is None:
        raise ConfigInvalid(errors)
    loading = _Loading(path, parsed.document, errors, check_rules)
    return loading.run({k: v for k, v in (overrides or {}).items() if v is not None}, raw)


class _Loading:
    """One run of `load_config` once the config file parsed: validate, resolve, check files."""

    def __init__(
        self,
        path: Path,
        document: YamlDocument,
        errors: list[ConfigError],
        check_rules: RuleCheck,
    ) -> None:
        self.path = path
        self.check_rule_schema = check_rules
        self.document = document
        self.errors = errors
        # Relative paths in the config mean "next to the config file", never the CWD.
        self.base = Path(os.path.abspath(path)).parent
        data = document.data if document.data is not None else {}
        self.data = data

    def error(self, key: Path_, message: str) -> None:
        self.errors.append(ConfigError(self.path, self.document.line_of(key), message))

    def run(self, overrides: Mapping[str, object], raw: bytes) -> LoadedConfig:
        labels = self.apply_overrides(overrides)
        config: Config | None = None
        try:
            config = Config.model_validate(self.data)
        except ValidationError as exc:
            for p in describe(exc, self.document, Config, labels):
                self.errors.append(ConfigError(self.path, p.line, p.message))
        parts: list[tuple[str, bytes]] = [("config", raw)]
        rule_files = self.check_rules(parts)
        if config is not None:
            # The rule schema needs the validated config (slots, purposes, data_purposes),
            # so it runs only once the config itself is valid.
            self.errors.extend(self.check_rule_schema(rule_files, config))
        self.check_catalog(parts)
        self.check_local_files()
        self.check_storage_url()
        if self.errors or config is None:
            raise ConfigInvalid(_ordered(self.errors, self.path))
        return LoadedConfig(
            self.resolved(config),
            self.path,
            _fingerprint(parts),
            tuple(rule_files),
            tuple(config_warnings(config, self.path, self.document)),
        )

    def apply_overrides(self, overrides: Mapping[str, object]) -> dict[Path_, str]:
        labels: dict[Path_, str] = {}
        for key, value in overrides.items():
            if key not in OVERRIDABLE:
                self.errors.append(ConfigError(self.path, 0, f"--{key}: cannot be overridden"))
                continue
            if not isinstance(self.data, dict):
                continue  # the top-level error says it all
            section = self.data.setdefault("gateway", {})
            if isinstance(section, dict):
                section[key] = value
                labels[("gateway", key)] = f"--{key}"
        return labels

    def value(self, *keys: str) -> object:
        """The raw value at `keys`, or None when any step is missing or not a mapping."""
        current: object = self.data
        for key in keys:
            if not isinstance(current, dict):
                return None
            current = current.get(key)
        return current

    def local_path(self, *keys: str, default: str | None = None) -> Path | None:
        """The path at `keys` (absolute against the config's directory), if a usable string."""
        value = self.value(*keys)
        if value is None:
            value = default
        if not isinstance(value, str) or not value:
            return None  # absent, or a type error the model reports
        if "\x00" in value:
            self.error(keys, f"{'.'.join(keys)}: a path cannot contain a NUL character")
            return None
        return self.base / value

    def check_rules(self, parts: list[tuple[str, bytes]]) -> list[RuleFile]:
        configured = self.value("rules", "directory") is not None
        directory = self.local_path("rules", "directory", default=DEFAULT_RULES_DIRECTORY)
        if directory is None or not directory.is_dir():
            # Only a directory the config names must exist; no `rules/` means no rules yet.
            if configured and directory is not None:
                self.error(("rules", "directory"), f"rules.directory: not found: {directory}")
            return []
        files, errors = read_rule_files(directory)
        self.errors.extend(errors)
        parts.extend((f"rules/{f.path.name}", f.raw) for f in files)
        return files

    def check_catalog(self, parts: list[tuple[str, bytes]]) -> None:
        catalog = self.local_path("catalog")
        if catalog is None:
            return
        try:
            raw = catalog.read_bytes()
        except OSError as exc:
            reason = "not found" if isinstance(exc, FileNotFoundError) else exc.strerror or exc
            self.error(("catalog",), f"catalog: {reason}: {catalog}")
            return
        self.errors.extend(check_catalog(catalog, raw))
        parts.append(("catalog", raw))

    def check_local_files(self) -> None:
        # geo.optional: true means "start without geo" when the database is absent.
        geo = self.local_path("geo", "database")
        if geo is not None and self.value("geo", "optional") is not True and not geo.is_file():
            self.error(("geo", "database"), f"geo.database: not found: {geo}")
        weather = self.local_path("weather", "offline_file")
        if weather is not None and not weather.is_file():
            self.error(("weather", "offline_file"), f"weather.offline_file: not found: {weather}")
        if self.value("weather", "provider") == "offline" and weather is None:
            self.error(
                ("weather", "provider"), "weather: provider 'offline' needs weather.offline_file"
            )

    def check_storage_url(self) -> None:
        value = self.value("storage", "url")
        if isinstance(value, str):
            try:
                make_url(value)
            except (ArgumentError, ValueError) as exc:
                self.error(("storage", "url"), f"storage.url: not a database URL: {exc}")

    def resolved(self, config: Config) -> Config:
        """`config` with every relative path absolute (against the config file's directory).

        Generic over the models: any `Path` field, in any section, at any depth, is resolved,
        so a new section's file option needs no change here.
        """
        resolved = _absolute_paths(config, self.base)
        storage = _with(resolved.storage, url=_absolute_sqlite(resolved.storage.url, self.base))
        return resolved.model_copy(update={"storage": storage})


def _absolute_paths(model: _Model, base: Path) -> _Model:
    """`model` with every `Path` field (also inside sections and lists) made absolute."""

    def fix(value: object) -> object:
        if isinstance(value, Path):
            return value if value.is_absolute() else Path(os.path.normpath(base / value))
        if isinstance(value, BaseModel):
            return _absolute_paths(value, base)
        if isinstance(value, list):
            return [fix(v) for v in value]
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        return value

    updates = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        fixed = fix(value)
        if fixed != value:
            updates[name] = fixed
    return model.model_copy(update=updates) if updates else model


def _absolute_sqlite(url: str, base: Path) -> str:
    """`url` with a relative SQLite database path made absolute against `base`."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return url
    if database.startswith("file:") or os.path.isabs(database):
        return url  # absolute already, or an SQLite URI filename left to the store to judge
    absolute = os.path.normpath(base / database)
    return parsed.set(database=absolute).render_as_string(hide_password=False)


def _with(section: _Model, **changes: object) -> _Model:
    return section.model_copy(update=changes)


def _fingerprint(parts: Iterable[tuple[str, bytes]]) -> str:
    digest = hashlib.sha256()
    for label, data in parts:
        # Length-framed so no two different sets of files can hash alike by shifting bytes.
        digest.update(label.encode() + b"\0" + len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def _ordered(errors: list[ConfigError], config_path: Path) -> list[ConfigError]:
    """The config file's errors first, then each other file's, each file by line."""
    order: dict[Path, int] = {config_path: 0}
    for e in errors:
        order.setdefault(e.file, len(order))
    key: Callable[[ConfigError], tuple[int, int]] = lambda e: (order[e.file], e.line)  # noqa: E731
    return sorted(dict.fromkeys(errors), key=key)
