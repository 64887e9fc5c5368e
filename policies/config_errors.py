"""The error types of config loading: one `ConfigError` per problem, all in `ConfigInvalid`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ConfigError:
    """One problem in one file, printed as `FILE:LINE: message`.

    LINE is 1-based; 0 means the problem has no line in the file (the file is missing, or the
    value came from a command-line override such as `--upstream`).
    """

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
class ConfigWarning(ConfigError):
    """Something valid that is probably not what the operator meant, printed as
    `FILE:LINE: warning: message`; `consentgate check` still exits 0."""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: warning: {self.message}"
