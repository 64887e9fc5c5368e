"""The config as the gateway loads it: `policies.loader` with the rule schema of
`personalization_rules` plugged in, so `check`, `run` and every command report the same errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from personalization_rules.rules import check_rule_files
from policies.loader import LoadedConfig
from policies.loader import load_config as load_policies


def load_config(path: Path, overrides: Mapping[str, object] | None = None) -> LoadedConfig:
    """Read and validate `path`, the rule files and the catalog it names (`ConfigInvalid`)."""
    return load_policies(path, overrides, check_rules=check_rule_files)
