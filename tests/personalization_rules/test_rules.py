"""Rule files: schema, checks with exact FILE:LINE, and the compiled form."""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path

import pytest

from gateway.wiring import load_config
from personalization_rules.rules import Banner, Recommend, compile_rules
from policies.loader import ConfigInvalid
from tests.personalization_rules.rule_sample import compile_text, config, rules

GOOD = """\
rules:
  - id: hero
    slot: hero-banner
    when: {geo.country: GB}
    then: {banner: {template: "<h2>{{ t }}</h2>", vars: {t: Hi}}}
"""


def messages(text: str) -> list[str]:
    return [f"{e.file.name}:{e.line}: {e.message}" for e in compile_text(text)[1]]


def one_rule(body: str) -> str:
    """A rules file of one rule, id `r`, whose keys are `body`: its first line is line 3."""
    return "rules:\n  - id: r\n" + textwrap.indent(textwrap.dedent(body), "    ")


def test_a_valid_rule_compiles() -> None:
    [rule] = rules(GOOD)
    assert rule.id == "hero" and rule.slot == "hero-banner" and rule.priority == 0
    assert isinstance(rule.action, Banner)
    assert rule.condition({"geo": {"country": "GB"}}) is True
    assert rule.condition({"geo": {"country": "SE"}}) is False
    assert rule.line == 2 and rule.file == Path("/rules/rules.yaml")
    assert rule.purposes == frozenset()  # country is location.region: "none" in the sample


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            """\
            slot: hero-banner
            when:
              $or:
                - geo.country: {$inn: [GB]}
            then: {banner: {template: x}}
            """,
            "rules.yaml:6: when: /$or/0/geo.country/$inn: unknown operator '$inn'; "
            "did you mean '$in' or '$nin' or '$ini'?",
            id="misspelt operator inside a rule",
        ),
        pytest.param(
            """\
            when: {}
            slot: hero-baner
            then: {banner: {template: x}}
            """,
            "rules.yaml:4: unknown slot 'hero-baner' (personalization.slots); "
            "did you mean 'hero-banner'?",
            id="unknown slot",
        ),
        pytest.param(
            """\
            slot: recommendations
            then:
              recommend: {strategy: bestsellers, count: many}
            """,
            "rules.yaml:5: then.recommend.count: Input should be a valid integer, unable to "
            "parse string as an integer (got 'many')",
            id="wrong type",
        ),
        pytest.param(
            """\
            slot: hero-banner
            priorty: 3
            then: {banner: {template: x}}
            """,
            "rules.yaml:4: priorty: unknown key 'priorty', did you mean 'priority'?",
            id="unknown key",
        ),
        pytest.param(
            """\
            slot: hero-banner
            when:
              geo.ctiy: London
            then: {banner: {template: x}}
            """,
            "rules.yaml:5: unknown attribute 'geo.ctiy'; did you mean 'geo.city' or 'geo.country'?",
            id="misspelt field",
        ),
        pytest.param(
            """\
            slot: hero-banner
            when:
              weather.condition: {$in: [clear, rainy]}
            then: {banner: {template: x}}
            """,
            "rules.yaml:5: unknown value 'rainy' for weather.condition; did you mean 'rain'?",
            id="unknown enum value",
        ),
        pytest.param(
            """\
            slot: hero-banner
            when: {consent.personalisation: true}
            then: {banner: {template: x}}
            """,
            "rules.yaml:4: unknown purpose 'personalisation' in consent.<purpose>; "
            "did you mean 'personalization'?",
            id="unknown purpose",
        ),
        pytest.param(
            """\
            slot: hero-banner
            when: {geo.near: sf_bay}
            then: {banner: {template: x}}
            """,
            "rules.yaml:4: geo.near is a list: write {$in: [sf_bay]} to test membership",
            id="plain value against a list attribute",
        ),
        pytest.param(
            """\
            slot: hero-banner
            when:
              weather.temperature: {$gte: "20"}
            then: {banner: {template: x}}
            """,
            "rules.yaml:5: weather.temperature is a number, got '20'",
            id="string against a number attribute",
        ),
        pytest.param(
            """\
            slot: hero-banner
            when: {consent.analytics: "yes"}
            then: {banner: {template: x}}
            """,
            "rules.yaml:4: consent.analytics is true or false, got 'yes'",
            id="string against a flag",
        ),
        pytest.param(
            """\
            slot: hero-banner
            then:
              banner:
                template: "<p>{% if %}</p>"
            """,
            "rules.yaml:6: banner template: Expected an expression, got 'end of statement block'",
            id="template syntax",
        ),
        pytest.param(
            """\
            slot: hero-banner
            then:
              banner: {template: "{{ titel }}", vars: {title: x}}
            """,
            "rules.yaml:5: unknown template variable 'titel' (not in vars); "
            "did you mean 'title' or 'time'?",
            id="template variable",
        ),
        pytest.param(
            """\
            slot: hero-banner
            then: {banner: {template: x}, recommend: {strategy: bestsellers}}
            """,
            "rules.yaml:4: then needs exactly one action: banner or recommend",
            id="two actions",
        ),
        pytest.param(
            """\
            then: {banner: {template: x}}
            """,
            "rules.yaml:2: rule 'r': missing slot (set slot: or then.slot:)",
            id="no slot",
        ),
        pytest.param(
            """\
            slot: hero-banner
            schedule: {start: 2026-13-01}
            then: {banner: {template: x}}
            """,
            "rules.yaml:4: schedule.start: '2026-13-01' is not an ISO date (2026-12-01) or "
            "date-time (2026-12-01T09:00)",
            id="bad date",
        ),
        pytest.param(
            """\
            slot: hero-banner
            experiment:
              key: e
              variants:
                - {id: a, then: {banner: {template: x}}}
                - {id: a, then: {banner: {template: y}}}
            """,
            "rules.yaml:8: duplicate variant id 'a'",
            id="duplicate variant",
        ),
    ],
)
def test_check_errors_name_file_and_line(body: str, expected: str) -> None:
    assert messages(one_rule(body)) == [expected]


def test_uncovered_data_category_is_an_error() -> None:
    cfg = config(data_purposes={"location.region": "none"})
    text = """\
    rules:
      - id: r
        slot: hero-banner
        when: {visitor.type: customer}
        then: {banner: {template: x}}
    """
    _, errors = compile_text(text, cfg)
    assert [e.line for e in errors] == [4]
    assert "visitor.type reads data category 'behavior.profile', which no purpose covers" in (
        errors[0].message
    )


def test_one_bad_rule_does_not_hide_the_next() -> None:
    text = """\
rules:
  - id: a
    slot: hero-banner
    priority: high
    then: {banner: {template: x}}
  - id: b
    slot: nowhere
    then: {banner: {template: x}}
"""
    assert [e.line for e in compile_text(text)[1]] == [4, 7]


def test_duplicate_ids_across_rules() -> None:
    text = GOOD + GOOD.removeprefix("rules:\n")
    compiled, errors = compile_text(text)
    assert [r.id for r in compiled] == ["hero"]
    assert [(e.line, e.message) for e in errors] == [
        (6, "duplicate rule id 'hero' (first at rules.yaml:2)")
    ]


def test_purposes_come_from_condition_and_template() -> None:
    [by_condition, by_template, contextual] = rules(
        """\
        rules:
          - id: a
            slot: hero-banner
            when: {visitor.type: customer, weather.condition: rain}
            then: {banner: {template: x}}
          - id: b
            slot: hero-banner
            then: {banner: {template: "in {{ geo.city }}"}}
          - id: c
            slot: hero-banner
            when: {$or: [{device: mobile}, {page.type: home}]}
            then: {banner: {template: "{{ weather.temperature }}"}}
        """
    )
    assert by_condition.needs == (("personalization", "visitor.type"),)
    assert by_template.needs == (("personalization", "geo.city"),)
    assert contextual.purposes == frozenset()


def test_recommend_and_experiment_and_schedule_compile() -> None:
    [rec, exp] = rules(
        """\
        rules:
          - id: rec
            then:
              slot: recommendations
              recommend: {strategy: recently_viewed, fallback: [similar, recently_viewed]}
            schedule: {start: 2026-12-01, days: [sat, sun], hours: [22, 6]}
            frequency: {max: 2, per: week}
          - id: exp
            slot: hero-banner
            experiment:
              key: hero-copy
              variants:
                - {id: control, weight: 3, then: {banner: {template: a}}}
                - {id: bold, weight: 1, then: {slot: hero-banner, banner: {template: b}}}
        """
    )
    assert rec.slot == "recommendations"
    assert isinstance(rec.action, Recommend)
    assert rec.action.strategies == ("recently_viewed", "similar")  # duplicates dropped
    assert rec.action.exclusions == {"out_of_stock", "current"}
    assert rec.action.without_personal().strategies == ("bestsellers",)
    assert rec.schedule is not None and rec.schedule.start == date(2026, 12, 1)
    assert rec.schedule.hours == (22, 6) and rec.frequency is not None
    assert exp.experiment is not None and exp.action is None
    assert exp.experiment.ranges == ((0.0, 0.75), (0.75, 1.0))  # weights normalized
    assert [v.id for v in exp.experiment.variants] == ["control", "bold"]


def test_disabled_rules_are_checked_but_not_compiled() -> None:
    text = GOOD.replace("slot: hero-banner", "slot: hero-banner\n    enabled: false")
    compiled, errors = compile_text(text)
    assert compiled == [] and errors == []


def test_consentgate_check_reports_rule_errors(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "hero.yaml").write_text(
        "rules:\n  - id: r\n    slot: hero-banner\n    when:\n      geo.country: {$inn: [GB]}\n"
        "    then: {banner: {template: x}}\n"
    )
    (tmp_path / "policies.yaml").write_text("gateway: {upstream: 'http://127.0.0.1:1'}\n")
    with pytest.raises(ConfigInvalid) as caught:
        load_config(tmp_path / "policies.yaml")
    assert [str(e) for e in caught.value.errors] == [
        f"{tmp_path}/rules/hero.yaml:5: when: /geo.country/$inn: unknown operator '$inn'; "
        "did you mean '$in' or '$nin' or '$ini'?",
        # The attribute is checked beside the bad operator: the next run would stop here.
        f"{tmp_path}/rules/hero.yaml:5: geo.country reads data category 'location.region', "
        "which no purpose covers: map it in personalization.data_purposes (e.g. "
        "location.region: personalization) or to 'none' if it is contextual",
    ]


def test_repo_example_rules_are_valid() -> None:
    root = Path(__file__).resolve().parents[2]
    loaded = load_config(root / "policies.yaml")
    compiled, errors = compile_rules(loaded.rule_files, loaded.config)
    assert errors == []
    ids = {r.id for r in compiled}
    assert {"sf-same-day", "rain-picks", "hero-new", "winter-weekend-sale"} <= ids
