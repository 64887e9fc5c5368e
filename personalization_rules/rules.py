"""Rule files: the YAML schema of a personalization rule, its checks and its compiled form.

A rule file holds `rules:`, a list of mappings::

    - id: sf-same-day                 # unique over all rule files
      description: Same-day delivery in the Bay Area
      priority: 100                   # higher wins its slot; ties go to the smaller id
      slot: hero-banner               # or then.slot; must be in personalization.slots
      when: {geo.near: sf_bay}        # GrowthBook condition over personalization_rules.attributes
      then:
        banner: {template: "<h2>{{ title }}</h2>", vars: {title: Same-day delivery}}
        # or recommend: {strategy: weather_picks, count: 4, fallback: [bestsellers],
        #                exclude: [purchased, out_of_stock, current], title: For the rain}
      schedule: {start: 2026-12-01, end: 2026-12-24, days: [sat, sun], hours: [9, 18]}
      frequency: {max: 3, per: day}   # shown at most 3 times a day to one subject
      experiment:                     # instead of `then`: A/B/n, GrowthBook v2 hash
        key: hero-copy
        variants:
          - {id: control, weight: 0.5, then: {banner: {template: "..."}}}
          - {id: bold, weight: 0.5, then: {banner: {template: "..."}}}

`check_rule_files` reports every problem as a `ConfigError` with FILE:LINE: schema errors
(unknown key, wrong type) via `policies.validation_errors.describe`, condition errors via
`ConditionError.path`, unknown attributes and values, unknown slots, template errors, and
attributes whose data category no purpose covers. `compile_rules` builds `Rule`s once at load:
conditions and templates compiled, the purposes each rule relies on worked out.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from personalization_rules.attributes import (
    ATTRIBUTES,
    CONTEXTUAL,
    ROOTS,
    DataPolicy,
    attribute_for,
    categories_of_root,
)
from personalization_rules.bucketing import Range, bucket_ranges
from personalization_rules.conditions import (
    LOGICAL_OPERATORS,
    Condition,
    compile_condition,
    condition_errors,
)
from personalization_rules.recommender import PERSONAL_STRATEGIES, Strategy
from personalization_rules.schedule import Schedule, parse_moment
from personalization_rules.templates import BannerTemplate, TemplateProblem
from policies.config_errors import ConfigError, ConfigInvalid
from policies.models import Config, Section
from policies.rule_files import RuleFile
from policies.validation_errors import describe
from policies.yaml_lines import Path_, YamlDocument

_ID = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ExclusionName = Literal["purchased", "out_of_stock", "current"]
# Names a banner template may use besides its vars and the attribute roots (Jinja2 globals).
_TEMPLATE_GLOBALS = frozenset({"range", "dict", "loop", "namespace", "cycler", "joiner"})
_DEFAULT_EXCLUSIONS: tuple[ExclusionName, ...] = ("out_of_stock", "current")
_ANY_VALUE_OPERATORS = frozenset({"$exists", "$type", "$size", "$elemMatch", "$not"})


# -- the YAML schema ----------------------------------------------------------------------------


class BannerSpec(Section):
    """`banner:` an HTML template (Jinja2, sandboxed, auto-escaped) and its variables."""

    template: Annotated[str, Field(min_length=1, max_length=16_384)]
    vars: dict[str, str | int | float | bool] = Field(default_factory=dict)


class RecommendSpec(Section):
    """`recommend:` products by strategy, with fallbacks, a count and exclusions."""

    strategy: Strategy
    count: Annotated[int, Field(ge=1, le=24)] = 4
    fallback: list[Strategy] = Field(default_factory=list)
    exclude: list[ExclusionName] = Field(default_factory=lambda: list(_DEFAULT_EXCLUSIONS))
    title: Annotated[str, Field(max_length=200)] | None = None


class ThenSpec(Section):
    """What a matching rule puts into its slot: exactly one action."""

    slot: str | None = None
    banner: BannerSpec | None = None
    recommend: RecommendSpec | None = None

    @model_validator(mode="after")
    def _one_action(self) -> ThenSpec:
        if (self.banner is None) == (self.recommend is None):
            raise ValueError("then needs exactly one action: banner or recommend")
        return self


class ScheduleSpec(Section):
    """`schedule:` see `personalization_rules.schedule`."""

    start: str | None = None
    end: str | None = None
    days: list[Weekday] = Field(default_factory=list)
    hours: (
        Annotated[list[Annotated[int, Field(ge=0, le=24)]], Field(min_length=2, max_length=2)]
        | None
    ) = None  # noqa: E501

    @field_validator("start", "end")
    @classmethod
    def _moment(cls, value: str | None) -> str | None:
        if value is not None:
            parse_moment(value)
        return value

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and (value[0] == value[1] or value[0] > 23):
            raise ValueError("hours is [first, end), e.g. [9, 17]; first 0-23, end 0-24")
        return value


class FrequencySpec(Section):
    """`frequency:` at most `max` impressions per subject per period."""

    max: Annotated[int, Field(ge=1, le=1_000_000)]
    per: Literal["day", "week", "month", "ever"] = "day"


class VariantSpec(Section):
    """One arm of an experiment."""

    id: Annotated[str, Field(pattern=_ID)]
    weight: Annotated[float, Field(gt=0)] = 1.0
    then: ThenSpec


class ExperimentSpec(Section):
    """`experiment:` A/B/n arms; the first is the control."""

    key: Annotated[str, Field(pattern=_ID)]
    variants: Annotated[list[VariantSpec], Field(min_length=2, max_length=26)]


class RuleSpec(Section):
    """One rule as written in YAML."""

    id: Annotated[str, Field(pattern=_ID)]
    description: str = ""
    priority: int = 0
    enabled: bool = True
    slot: str | None = None
    when: dict[str, Any] = Field(default_factory=dict)
    then: ThenSpec | None = None
    schedule: ScheduleSpec | None = None
    frequency: FrequencySpec | None = None
    experiment: ExperimentSpec | None = None

    @model_validator(mode="after")
    def _then_or_experiment(self) -> RuleSpec:
        if (self.then is None) == (self.experiment is None):
            raise ValueError("a rule needs either then or experiment (not both)")
        return self


# -- the compiled form --------------------------------------------------------------------------


@dataclass(frozen=True)
class Banner:
    """Render `template` with the rule's `vars` and the request's (gated) attributes."""

    template: BannerTemplate
    vars: Mapping[str, Any]


@dataclass(frozen=True)
class Recommend:
    """Strategies in order (first + fallbacks); personal ones drop out without consent."""

    strategies: tuple[str, ...]
    count: int
    exclusions: frozenset[str]
    title: str | None

    def without_personal(self) -> Recommend:
        """This instruction with only non-personal strategies (bestsellers if none is left)."""
        kept = tuple(s for s in self.strategies if s not in PERSONAL_STRATEGIES)
        return Recommend(kept or ("bestsellers",), self.count, self.exclusions, self.title)


Action = Banner | Recommend


@dataclass(frozen=True)
class Variant:
    """An experiment arm and its action."""

    id: str
    action: Action


@dataclass(frozen=True)
class Experiment:
    """Arms and their hash ranges (weights normalized; first arm is the control)."""

    key: str
    variants: tuple[Variant, ...]
    ranges: tuple[Range, ...]


@dataclass(frozen=True)
class Frequency:
    """At most `max` impressions per subject per `per`."""

    max: int
    per: str


@dataclass(frozen=True)
class Rule:
    """A compiled rule. `needs` pairs each purpose it relies on with a field that needs it."""

    id: str
    slot: str
    priority: int
    condition: Condition
    action: Action | None
    description: str = ""
    experiment: Experiment | None = None
    schedule: Schedule | None = None
    frequency: Frequency | None = None
    needs: tuple[tuple[str, str], ...] = ()
    purposes: frozenset[str] = frozenset()
    file: Path | None = None
    line: int = 0

    @property
    def actions(self) -> tuple[Action, ...]:
        """Every action this rule can produce (its own, or each variant's)."""
        if self.experiment is not None:
            return tuple(v.action for v in self.experiment.variants)
        return (self.action,) if self.action is not None else ()


@dataclass
class _FileCheck:
    """Checking and compiling the rules of one file."""

    rule_file: RuleFile
    config: Config
    policy: DataPolicy
    errors: list[ConfigError] = field(default_factory=list)

    def error(self, path: Path_, message: str) -> None:
        line = self.rule_file.document.line_of(path)
        self.errors.append(ConfigError(self.rule_file.path, line, message))

    def run(self) -> list[Rule]:
        rules: list[Rule] = []
        subs = _rule_documents(self.rule_file.document)
        for i, raw in enumerate(self.rule_file.rules):
            # Each rule validates on its own, so one bad rule does not hide the others' errors.
            sub = subs[i]
            try:
                spec = RuleSpec.model_validate(raw)
            except ValidationError as exc:
                for p in describe(exc, sub, RuleSpec):
                    self.errors.append(ConfigError(self.rule_file.path, p.line, p.message))
                when = raw.get("when")
                if isinstance(when, dict) and not any(
                    e["loc"][:1] == ("when",) for e in exc.errors()
                ):
                    # A bad key elsewhere in the rule does not hide the condition's mistakes.
                    self.check_condition(when, ("rules", i, "when"))
                continue
            rule = self.rule(spec, i)
            if rule is not None:
                rules.append(rule)
        return rules

    def rule(self, spec: RuleSpec, i: int) -> Rule | None:
        here: Path_ = ("rules", i)
        before = len(self.errors)
        slot = self.slot(spec, here)
        condition, fields = self.check_condition(spec.when, (*here, "when"))
        action = self.action(spec.then, (*here, "then")) if spec.then else None
        experiment = self.experiment(spec.experiment, (*here, "experiment"))
        actions = (
            [action] if action else [v.action for v in experiment.variants] if experiment else []
        )
        for n, a in enumerate(actions):
            if isinstance(a, Banner):
                where = (
                    (*here, "then") if spec.then else (*here, "experiment", "variants", n, "then")
                )
                fields.extend((f, (*where, "banner", "template")) for f in a.template.fields)
        needs = self.needs(fields)
        if len(self.errors) > before or condition is None or slot is None or not spec.enabled:
            return None
        schedule = None
        if spec.schedule is not None:
            s = spec.schedule
            schedule = Schedule(
                start=parse_moment(s.start) if s.start else None,
                end=parse_moment(s.end) if s.end else None,
                days=frozenset(s.days),
                hours=(s.hours[0], s.hours[1]) if s.hours else None,
            )
        return Rule(
            id=spec.id,
            slot=slot,
            priority=spec.priority,
            condition=condition,
            action=action,
            description=spec.description,
            experiment=experiment,
            schedule=schedule,
            frequency=Frequency(spec.frequency.max, spec.frequency.per) if spec.frequency else None,
            needs=needs,
            purposes=frozenset(p for p, _ in needs),
            file=self.rule_file.path,
            line=self.rule_file.document.line_of(here),
        )

    def check_condition(
        self, when: Mapping[str, Any], here: Path_
    ) -> tuple[Condition | None, list[tuple[str, Path_]]]:
        """The compiled condition (None after any error) and the attributes it reads."""
        problems = condition_errors(when)
        for problem in problems:
            self.error((*here, *problem.path), f"when: {problem}")
        condition = None if problems else compile_condition(when, strict=True)
        # Attribute names are checked even beside a bad operator: every mistake in one run.
        return condition, self.check_fields(when, here)

    def slot(self, spec: RuleSpec, here: Path_) -> str | None:
        named: list[tuple[str, Path_]] = []
        if spec.slot is not None:
            named.append((spec.slot, (*here, "slot")))
        if spec.then is not None and spec.then.slot is not None:
            named.append((spec.then.slot, (*here, "then", "slot")))
        if spec.experiment is not None:
            for n, v in enumerate(spec.experiment.variants):
                if v.then.slot is not None:
                    named.append(
                        (v.then.slot, (*here, "experiment", "variants", n, "then", "slot"))
                    )
        if not named:
            self.error(here, f"rule {spec.id!r}: missing slot (set slot: or then.slot:)")
            return None
        known = self.config.personalization.slots
        for name, path in named:
            if name not in known:
                self.error(path, _unknown("slot", name, known, " (personalization.slots)"))
                return None
        if len({name for name, _ in named}) > 1:
            self.error(
                named[1][1], f"rule {spec.id!r} names two slots: {named[0][0]!r}, {named[1][0]!r}"
            )
            return None
        return named[0][0]

    def action(self, then: ThenSpec, here: Path_) -> Action | None:
        if then.banner is not None:
            try:
                template = BannerTemplate(then.banner.template)
            except TemplateProblem as exc:
                self.error((*here, "banner", "template"), f"banner template: {exc.message}")
                return None
            for name in template.fields:
                root = name.split(".", 1)[0]
                if root in then.banner.vars or root in _TEMPLATE_GLOBALS:
                    continue
                if root not in ROOTS:
                    known = sorted([*then.banner.vars, *ROOTS])
                    self.error(
                        (*here, "banner", "template"),
                        _unknown("template variable", root, known, " (not in vars)"),
                    )
                elif "." in name and attribute_for(name) is None:
                    self.unknown_attribute(name, (*here, "banner", "template"))
            return Banner(template, dict(then.banner.vars))
        r = then.recommend
        assert r is not None
        strategies = tuple(dict.fromkeys([r.strategy, *r.fallback]))
        return Recommend(strategies, r.count, frozenset(r.exclude), r.title)

    def experiment(self, spec: ExperimentSpec | None, here: Path_) -> Experiment | None:
        if spec is None:
            return None
        ids = [v.id for v in spec.variants]
        for n, vid in enumerate(ids):
            if vid in ids[:n]:
                self.error((*here, "variants", n, "id"), f"duplicate variant id {vid!r}")
        variants: list[Variant] = []
        for n, v in enumerate(spec.variants):
            action = self.action(v.then, (*here, "variants", n, "then"))
            if action is not None:
                variants.append(Variant(v.id, action))
        if len(variants) != len(spec.variants):
            return None
        total = sum(v.weight for v in spec.variants)
        weights = [v.weight / total for v in spec.variants]
        return Experiment(
            spec.key, tuple(variants), tuple(bucket_ranges(len(weights), 1.0, weights))
        )

    # -- what the condition reads ------------------------------------------------------------

    def check_fields(self, when: Mapping[str, Any], here: Path_) -> list[tuple[str, Path_]]:
        found: list[tuple[str, Path_]] = []
        for name, value, path in _clauses(when, here):
            attribute = attribute_for(name)
            if attribute is None:
                self.unknown_attribute(name, path)
                continue
            if name.startswith("consent."):
                purpose = name.split(".", 1)[1]
                ids = [p.id for p in self.config.purposes]
                if purpose not in ids:
                    self.error(path, _unknown("purpose", purpose, ids, " in consent.<purpose>"))
                    continue
            if attribute.kind == "list" and isinstance(value, str | int | float):
                # GrowthBook compares a plain value with the whole list, so it never matches.
                self.error(path, f"{name} is a list: write {{$in: [{value}]}} to test membership")
                continue
            if attribute.values:
                self.check_values(name, attribute.values, value, path)
            if attribute.kind in ("number", "boolean"):
                self.check_kind(name, attribute.kind, value, path)
            found.append((name, path))
        return found

    def check_values(self, name: str, allowed: Sequence[str], value: Any, path: Path_) -> None:
        for candidate, where in _operands(value, path):
            if isinstance(candidate, str) and candidate not in allowed:
                self.error(where, _unknown("value", candidate, allowed, f" for {name}"))

    def check_kind(self, name: str, kind: str, value: Any, path: Path_) -> None:
        # GrowthBook coerces mixed comparisons ("9" against 9, null as 0) instead of failing,
        # so a quoted number or a string for a flag is almost always a mistake: say so.
        for candidate, where in _operands(value, path, ordered=kind == "number"):
            if candidate is None:
                continue
            if kind == "number" and (isinstance(candidate, str | bool)):
                self.error(where, f"{name} is a number, got {candidate!r}")
            elif kind == "boolean" and not isinstance(candidate, bool):
                self.error(where, f"{name} is true or false, got {candidate!r}")

    def unknown_attribute(self, name: str, path: Path_) -> None:
        known = [*_known_names(self.config), *ROOTS]
        self.error(path, _unknown("attribute", name, known))

    def needs(self, fields: Iterable[tuple[str, Path_]]) -> tuple[tuple[str, str], ...]:
        out: dict[tuple[str, str], None] = {}
        for name, path in fields:
            attribute = attribute_for(name)
            categories = frozenset({attribute.category}) if attribute else categories_of_root(name)
            for category in sorted(categories):
                if category == CONTEXTUAL:
                    continue
                try:
                    purpose = self.policy.purpose_for(category)
                except KeyError:
                    self.error(
                        path,
                        f"{name} reads data category {category!r}, which no purpose covers: "
                        f"map it in personalization.data_purposes (e.g. {category}: "
                        "personalization) or to 'none' if it is contextual",
                    )
                    continue
                if purpose is not None:
                    out[(purpose, name)] = None
        return tuple(out)


def _known_names(config: Config) -> list[str]:
    return [*ATTRIBUTES, *(f"consent.{p.id}" for p in config.purposes)]


def _clauses(cond: Mapping[str, Any], path: Path_) -> list[tuple[str, Any, Path_]]:
    """Every attribute clause `(field, value, path)` in a condition, through $and/$or/$nor/$not."""
    out: list[tuple[str, Any, Path_]] = []
    for key, value in cond.items():
        here = (*path, key)
        if key in LOGICAL_OPERATORS:
            items = [value] if key == "$not" else value
            if isinstance(items, list | tuple):
                for n, item in enumerate(items):
                    if isinstance(item, Mapping):
                        out.extend(_clauses(item, here if key == "$not" else (*here, n)))
        else:
            out.append((key, value, here))
    return out


def _operands(value: Any, path: Path_, ordered: bool = False) -> list[tuple[Any, Path_]]:
    """The literal values a clause compares against, with their paths (with `ordered`, also
    the operands of $gt/$gte/$lt/$lte)."""
    if not isinstance(value, Mapping):
        return [(value, path)]
    out: list[tuple[Any, Path_]] = []
    for op, arg in value.items():
        if not isinstance(op, str) or op in _ANY_VALUE_OPERATORS or op.startswith("$regex"):
            continue
        if op.startswith("$notRegex") or op.startswith("$v"):
            continue
        if isinstance(arg, list | tuple):
            out.extend((a, (*path, op, n)) for n, a in enumerate(arg))
        elif op in ("$eq", "$ne") or (ordered and op in ("$gt", "$gte", "$lt", "$lte")):
            out.append((arg, (*path, op)))
    return out


def _unknown(what: str, name: str, known: Iterable[str], note: str = "") -> str:
    message = f"unknown {what} {name!r}{note}"
    close = difflib.get_close_matches(name, sorted(set(known)), n=2, cutoff=0.6)
    if close:
        message += "; did you mean " + " or ".join(repr(c) for c in close) + "?"
    return message


# -- entry points ---------------------------------------------------------------------------------


def compile_rules(
    rule_files: Sequence[RuleFile], config: Config
) -> tuple[list[Rule], list[ConfigError]]:
    """Compile every rule of `rule_files`; the rules that compiled and every error found."""
    policy = DataPolicy(dict(config.personalization.data_purposes))
    rules: list[Rule] = []
    errors: list[ConfigError] = []
    seen: dict[str, Rule] = {}
    for rule_file in rule_files:
        check = _FileCheck(rule_file, config, policy)
        for rule in check.run():
            first = seen.get(rule.id)
            if first is not None:
                where = f"{first.file.name if first.file else '?'}:{first.line}"
                errors.append(
                    ConfigError(
                        rule_file.path,
                        rule.line,
                        f"duplicate rule id {rule.id!r} (first at {where})",
                    )
                )
                continue
            seen[rule.id] = rule
            rules.append(rule)
        errors.extend(check.errors)
    return rules, errors


def check_rule_files(rule_files: Sequence[RuleFile], config: Config) -> list[ConfigError]:
    """Every problem in the rule files (what `consentgate check` prints)."""
    return compile_rules(rule_files, config)[1]


def load_rules(rule_files: Sequence[RuleFile], config: Config) -> list[Rule]:
    """The compiled rules; raises `ConfigInvalid` when any rule file has an error."""
    rules, errors = compile_rules(rule_files, config)
    if errors:
        raise ConfigInvalid(errors)
    return rules


def _rule_documents(document: YamlDocument) -> list[YamlDocument]:
    """Each item of the `rules:` list as a document of its own (same line numbers)."""
    rules = document.data["rules"] if isinstance(document.data, dict) else []
    subs = [YamlDocument(rule, {}, set()) for rule in rules]
    for path, line in document.lines.items():
        if len(path) >= 2 and path[0] == "rules" and isinstance(path[1], int):
            subs[path[1]].lines[path[2:]] = line
    for path in document.broken:
        if len(path) >= 2 and path[0] == "rules" and isinstance(path[1], int):
            subs[path[1]].broken.add(path[2:])
    return subs
