"""Build configs and compiled rules from YAML text, for the personalization tests."""

from __future__ import annotations

import copy
import textwrap
from pathlib import Path
from typing import Any

from personalization_rules.engine import Engine
from personalization_rules.rules import Rule, compile_rules
from policies.config_errors import ConfigError
from policies.models import Config
from policies.rule_files import RuleFile
from policies.yaml_lines import parse
from tests.consent.sample import PURPOSES

DATA_PURPOSES = {
    "location.region": "none",
    "location.coarse": "personalization",
    "behavior.profile": "personalization",
    "preferences.declared": "personalization",
    "customer.attributes": "personalization",
}


def config(**personalization: Any) -> Config:
    """A config with the sample purposes and a personalization section (overridable)."""
    section: dict[str, Any] = {
        "slots": ["hero-banner", "recommendations", "footer"],
        "data_purposes": dict(DATA_PURPOSES),
        "places": {"sf_bay": {"lat": 37.7749, "lon": -122.4194, "km": 60}},
    }
    section.update(personalization)
    return Config.model_validate(
        {
            "gateway": {"upstream": "http://127.0.0.1:1"},
            "purposes": copy.deepcopy(PURPOSES),
            "personalization": section,
        }
    )


def rule_file(text: str, name: str = "rules.yaml") -> RuleFile:
    """A parsed rule file from YAML `text` (dedented)."""
    source = textwrap.dedent(text)
    document = parse(source).document
    assert document is not None
    return RuleFile(Path("/rules") / name, source.encode(), document)


def compile_text(text: str, cfg: Config | None = None) -> tuple[list[Rule], list[ConfigError]]:
    """Compile one rule file given as YAML text."""
    return compile_rules([rule_file(text)], cfg or config())


def rules(text: str, cfg: Config | None = None) -> list[Rule]:
    """Compiled rules; fails the test on any error."""
    compiled, errors = compile_text(text, cfg)
    assert errors == [], [str(e) for e in errors]
    return compiled


def engine(text: str, cfg: Config | None = None) -> Engine:
    """An engine over the rules in `text`."""
    cfg = cfg or config()
    return Engine(rules(text, cfg), cfg.personalization)
