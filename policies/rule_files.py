"""The rule files of `rules.directory`: every `*.yaml` file in it, read with line numbers.

The rule schema itself belongs to the personalization rules; here each file only has to be a
YAML mapping whose one key, `rules:`, holds a list of mappings. Each file keeps its
`YamlDocument`, so the rule loader can report `FILE:LINE` for every rule field.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from policies.config_errors import ConfigError
from policies.yaml_lines import YamlDocument, decode, parse

TOP_LEVEL_KEYS = ("rules",)


@dataclass(frozen=True)
class RuleFile:
    """One rule file: where it is, its bytes (hashed into the config's sha256), its document."""

    path: Path
    raw: bytes = field(repr=False)
    document: YamlDocument

    @property
    def rules(self) -> list[dict[str, object]]:
        """The `rules:` list (each item a mapping; `read_rule_files` checked that)."""
        data = self.document.data
        assert isinstance(data, dict)
        rules = data["rules"]
        assert isinstance(rules, list)
        return rules


def rule_paths(directory: Path) -> list[Path]:
    """The rule files of `directory`, sorted by name; dotfiles (editor backups) are skipped."""
    return sorted(p for p in directory.glob("*.yaml") if not p.name.startswith(".") and p.is_file())


def read_rule_files(directory: Path) -> tuple[list[RuleFile], list[ConfigError]]:
    """Read every rule file in `directory`; the files that passed, and every error found."""
    files: list[RuleFile] = []
    errors: list[ConfigError] = []
    for path in rule_paths(directory):
        try:
            raw = path.read_bytes()
        except OSError as exc:
            errors.append(ConfigError(path, 0, f"cannot read rule file: {exc.strerror or exc}"))
            continue
        found = _read_rule_file(path, raw)
        if isinstance(found, RuleFile):
            files.append(found)
        else:
            errors.extend(found)
    return files, errors


def _read_rule_file(path: Path, raw: bytes) -> RuleFile | list[ConfigError]:
    text, problem = decode(raw)
    if text is None:
        assert problem is not None
        return [ConfigError(path, problem.line, problem.message)]
    result = parse(text)
    errors = [ConfigError(path, p.line, p.message) for p in result.problems]
    document = result.document
    if document is None:
        return errors
    data = document.data
    if not isinstance(data, dict):
        errors.append(ConfigError(path, 1, "a rule file must be a mapping with a 'rules:' list"))
        return errors
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            guess = difflib.get_close_matches(key, TOP_LEVEL_KEYS, n=1, cutoff=0.6)
            hint = f", did you mean {guess[0]!r}?" if guess else ""
            errors.append(ConfigError(path, document.line_of((key,)), f"unknown key {key!r}{hint}"))
    rules = data.get("rules")
    if "rules" not in data:
        errors.append(ConfigError(path, document.line_of(()), "missing required key 'rules'"))
    elif not isinstance(rules, list):
        errors.append(
            ConfigError(path, document.line_of(("rules",)), "rules: expected a list of rules")
        )
    else:
        for index, rule in enumerate(rules):
            if not isinstance(rule, dict):
                line = document.line_of(("rules", index))
                errors.append(ConfigError(path, line, f"rules[{index}]: expected a mapping"))
    return errors or RuleFile(path, raw, document)
