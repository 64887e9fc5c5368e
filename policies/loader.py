"""Load `policies.yaml` into `policies.models.Config` (STUB: the config helper replaces this
with FILE:LINE error reporting). Interface: `load_config`, `LoadedConfig`, `ConfigInvalid`,
`ConfigError`."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from policies.models import Config


@dataclass(frozen=True)
class ConfigError:
    """One problem in one file, printed as `FILE:LINE: message`."""

    file: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass
class ConfigInvalid(Exception):
    """The config (or a file it names) has errors; `errors` lists them all."""

    errors: list[ConfigError] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config with where it came from and the SHA-256 of its bytes."""

    config: Config
    path: Path
    sha256: str


def load_config(path: Path, overrides: Mapping[str, object] | None = None) -> LoadedConfig:
    """Read and validate `path`; `overrides` replace `gateway.*` keys (e.g. upstream, port)."""
    raw = path.read_bytes()
    data = yaml.safe_load(raw) or {}
    if overrides:
        data.setdefault("gateway", {}).update({k: v for k, v in overrides.items() if v is not None})
    return LoadedConfig(Config.model_validate(data), path, hashlib.sha256(raw).hexdigest())
