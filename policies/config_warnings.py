"""Warnings about a valid config that would not do what an operator put it in front of a
shop for; `consentgate check` prints them as `FILE:LINE: warning: ...` and still exits 0."""

from __future__ import annotations

from pathlib import Path

from policies.config_errors import ConfigWarning
from policies.models import Config
from policies.yaml_lines import YamlDocument


def config_warnings(config: Config, path: Path, document: YamlDocument) -> list[ConfigWarning]:
    """Every warning about `config`, read from `path` (parsed as `document`)."""
    warnings: list[ConfigWarning] = []
    if not any(p.hosts or p.cookies for p in config.purposes):
        # Prior blocking and cookie dropping key on these lists alone: without any, every
        # tracker loads and every cookie is set whatever the visitor chose.
        warnings.append(
            ConfigWarning(
                path,
                document.line_of(("purposes",)),
                "no purpose lists any host or cookie, so nothing would be blocked: add the "
                "trackers' hosts and cookie patterns under purposes[] (`consentgate init` "
                "writes a starter config with the common ones)",
            )
        )
    return warnings
