"""Deciding what goes into each slot for one request, and why (pure; rules compiled at load).

`Engine(rules, settings)` indexes the rules by slot, each slot's rules sorted by priority
(higher first, ties by rule id, so every node decides alike). `decide(visit)` walks only the
slots asked for and, per slot, stops at the first rule that passes, in this order:

1. consent gating: every purpose the rule relies on (its condition's and template's data
   categories, `personalization.data_purposes`) is granted. Gating, and top-level clauses on
   page.type, visitor.type, weather.condition and consent.*, are settled once per combination
   of granted purposes and those values (a cached "plan"), so a request only runs the
   conditions of rules that can still match, and stops at a rule that always wins;
2. its schedule, on the visitor's local clock;
3. its frequency cap (only where state may be kept: a subject and the purpose covering
   `behavior.profile`; without them there is no cap, as there is no counter);
4. its condition;
5. every field its banner template reads unguarded (`BannerTemplate.required`, found at load)
   is present and not None in the attributes: a template that cannot render for this visitor
   does not win, the next rule gets the slot (and no render fails on every request).

The winner's action is the rule's own or, for an experiment, the variant chosen by
GrowthBook's v2 hash of the subject pseudonym (sticky); without a subject or the purpose that
allows keeping state, the control or a per-request bucket (`anonymous_variant`), never sticky.
A `recommend` action loses its personal strategies without the purpose covering
`behavior.profile` (Dynamic Yield "Active Cookie Consent": contextual only). Subjects whose
hash falls in the `holdout` share get no personalization at all.

`decide(..., explain=True)` evaluates every rule and records the first reason each did not
match, for `consentgate rules explain`. `render` turns a decision into slot HTML.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from personalization_rules.attributes import (
    BEHAVIOR_PROFILE,
    ROOTS,
    VISITOR_TYPES,
    DataPolicy,
    VisitorProfile,
)
from personalization_rules.bucketing import bucket_hash, choose_variation
from personalization_rules.recommender import RecommendContext, Recommender
from personalization_rules.rules import Action, Banner, Recommend, Rule, Variant
from personalization_rules.templates import render_products
from personalization_rules.weather_codes import CONDITIONS
from policies.models import PersonalizationSettings

HOLDOUT_SEED: Final = "consentgate-holdout"
# Hash version of GrowthBook's SDK spec whose second round removes v1's seed bias.
HASH_VERSION: Final = 2
MAX_PLANS: Final = 4096

Test = Callable[[Any], bool]
Plan = dict[str, tuple[tuple[Test, Rule, bool, "SlotDecision | None"], ...]]


@dataclass(frozen=True)
class Visit:
    """One request as the engine sees it.

    `subject` is the subject's pseudonym (stable across requests and nodes; never the cookie
    value). `impressions` maps rule id to how often this subject saw it in that rule's
    frequency period. `request_bucket` is a fresh uniform number in [0, 1) per request (the
    caller's randomness), used for anonymous per-request variants. `forced_variants`
    (experiment key -> variant id) comes from a signed preview link only. `attributes`
    must be built from `granted` (its `consent` group is settled per plan, keyed by `granted`).
    """

    attributes: Mapping[str, Any]
    granted: frozenset[str]
    local_time: datetime
    subject: str | None = None
    impressions: Mapping[str, int] = field(default_factory=dict)
    request_bucket: float | None = None
    forced_variants: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SlotDecision:
    """The winner of one slot: rule, action, experiment arm, purposes relied on."""

    slot: str
    rule_id: str
    action: Action
    purposes: frozenset[str]
    experiment: str | None = None
    variant: str | None = None
    sticky: bool = False  # the variant follows the subject (counts as an exposure to keep)
    capped: str | None = None  # the rule's frequency period: showing it counts an impression


@dataclass(frozen=True)
class RuleOutcome:
    """One rule's fate in one request: matched (won or outranked) or the first reason not."""

    rule_id: str
    slot: str
    priority: int
    matched: bool
    reason: str | None = None


@dataclass(frozen=True)
class Decision:
    """Slot winners; with `explain`, every rule's outcome in slot and priority order."""

    slots: Mapping[str, SlotDecision]
    outcomes: tuple[RuleOutcome, ...] = ()
    holdout: bool = False
    state_allowed: bool = False  # sticky variants and frequency caps were possible


class Engine:
    """Rules indexed once; `decide` per request."""

    def __init__(self, rules: Iterable[Rule], settings: PersonalizationSettings) -> None:
        by_slot: dict[str, list[Rule]] = {}
        for rule in rules:
            by_slot.setdefault(rule.slot, []).append(rule)
        # Higher priority first; equal priorities by id: deterministic on every node.
        self.by_slot: dict[str, tuple[Rule, ...]] = {
            slot: tuple(sorted(found, key=lambda r: (-r.priority, r.id)))
            for slot, found in by_slot.items()
        }
        self.slots = tuple(settings.slots)
        # Rule id -> the attributes its banner templates cannot render without.
        self.template_needs: dict[str, tuple[str, ...]] = {
            r.id: needs
            for found in self.by_slot.values()
            for r in found
            if (needs := template_needs(r))
        }
        # Attributes with few possible values that rules commonly test by plain equality or
        # $in: a plan per combination of their values skips the rules that cannot match.
        self.discriminators: tuple[tuple[str, str, frozenset[str]], ...] = (
            ("page", "type", frozenset(settings.page_types) | {"other"}),
            ("visitor", "type", frozenset(VISITOR_TYPES)),
            ("weather", "condition", frozenset(CONDITIONS)),
        )
        # (granted purposes, discriminator values) -> slot -> the rules that can run there.
        # Keys are bounded by the enums above; the cap guards memory all the same.
        self._plans: dict[tuple[frozenset[str], tuple[str | None, ...]], Plan] = {}
        self.policy = DataPolicy(dict(settings.data_purposes))
        self.holdout = settings.holdout
        self.anonymous_variant = settings.anonymous_variant
        try:
            self.state_purpose: str | None = self.policy.purpose_for(BEHAVIOR_PROFILE)
            self.state_covered = True
        except KeyError:  # nobody covers behaviour data: no state is ever kept
            self.state_purpose, self.state_covered = None, False

    def state_allowed(self, visit: Visit) -> bool:
        """Whether sticky variants and frequency counters may be used for this visit."""
        return (
            visit.subject is not None
            and self.state_covered
            and (self.state_purpose is None or self.state_purpose in visit.granted)
        )

    def in_holdout(self, visit: Visit) -> bool:
        """True for subjects whose pseudonym hashes into the holdout share."""
        if self.holdout <= 0 or visit.subject is None or not self.state_allowed(visit):
            return False
        n = bucket_hash(HOLDOUT_SEED, visit.subject, HASH_VERSION)
        return n is not None and n < self.holdout

    def decide(
        self, visit: Visit, only_slots: Iterable[str] | None = None, explain: bool = False
    ) -> Decision:
        """Each slot's winner for `visit`; `only_slots` limits work to the page's slots."""
        slots = self.slots if only_slots is None else tuple(only_slots)
        state = self.state_allowed(visit)
        if self.in_holdout(visit):
            outcomes = tuple(
                RuleOutcome(r.id, r.slot, r.priority, False, "visitor is in the holdout")
                for s in slots
                for r in self.by_slot.get(s, ())
            )
            return Decision({}, outcomes if explain else (), True, state)
        granted = visit.granted
        attributes = visit.attributes
        if explain:
            return self.explained(visit, slots, state, self.personal_allowed(granted))
        winners: dict[str, SlotDecision] = {}
        personal_ok = False  # only experiments (never fixed) need it here; computed lazily
        impressions = visit.impressions
        local_time = visit.local_time
        plan = self.plan(granted, attributes)
        for slot in slots:
            for test, rule, timed, fixed in plan.get(slot, ()):
                # Hot loop: consent gating and discriminators were settled by the plan; the
                # rarer schedule and frequency checks next, the condition last.
                if timed and not self.in_time(rule, local_time, state, impressions):
                    continue
                if test(attributes):
                    if fixed is None:
                        personal_ok = self.personal_allowed(granted)
                        fixed = self.slot_decision(rule, visit, state, personal_ok)
                    winners[slot] = fixed
                    break
        return Decision(winners, (), False, state)

    def plan(self, granted: frozenset[str], attributes: Mapping[str, Any]) -> Plan:
        """Per slot, in priority order, the rules whose purposes are all granted and whose
        top-level clauses on the discriminating attributes (page.type, visitor.type,
        weather.condition) accept this request's values; each as (test, rule, has schedule
        or cap). The test leaves out the clauses the plan already settled."""
        values: list[str | None] = []
        for root, leaf, allowed in self.discriminators:
            group = attributes.get(root)
            value = group.get(leaf) if isinstance(group, dict) else None
            values.append(value if isinstance(value, str) and value in allowed else None)
        key = (granted, tuple(values))
        found = self._plans.get(key)
        if found is None:
            known = {
                f"{root}.{leaf}": value
                for (root, leaf, _), value in zip(self.discriminators, values, strict=True)
                if value is not None
            }
            personal_ok = self.personal_allowed(granted)
            found = {}
            for slot, rules in self.by_slot.items():
                entries = []
                for r in rules:
                    if not r.purposes <= granted or not _fits(r, known):
                        continue
                    test = _settled_test(r, known, attributes)
                    if test is None:
                        continue
                    needs = self.template_needs.get(r.id)
                    if needs:
                        test = _with_fields(test, needs)
                    timed = r.schedule is not None or r.frequency is not None
                    # Without an experiment the winner's decision depends on the plan only.
                    fixed = (
                        None if r.experiment else self.slot_decision(r, None, False, personal_ok)
                    )
                    entries.append((test, r, timed, fixed))
                    if test is _always and not timed:
                        break  # it always wins here: the rules below it are unreachable
                found[slot] = tuple(entries)
            if len(self._plans) >= MAX_PLANS:
                self._plans.clear()
            self._plans[key] = found
        return found

    @staticmethod
    def in_time(
        rule: Rule, local_time: datetime, state: bool, impressions: Mapping[str, int]
    ) -> bool:
        """The rule's schedule holds and its frequency cap (where state is kept) is not hit."""
        if rule.schedule is not None and rule.schedule.why_not(local_time) is not None:
            return False
        if rule.frequency is not None and state:
            return impressions.get(rule.id, 0) < rule.frequency.max
        return True

    def explained(
        self, visit: Visit, slots: tuple[str, ...], state: bool, personal_ok: bool
    ) -> Decision:
        """`decide` evaluating every rule, with each one's first reason for not matching."""
        winners: dict[str, SlotDecision] = {}
        outcomes: list[RuleOutcome] = []
        for slot in slots:
            for rule in self.by_slot.get(slot, ()):
                reason = self.why_not(rule, visit, state)
                if reason is None and slot in winners:
                    reason = f"matched, but {winners[slot].rule_id} ranks higher"
                    outcomes.append(RuleOutcome(rule.id, slot, rule.priority, True, reason))
                elif reason is None:
                    winners[slot] = self.slot_decision(rule, visit, state, personal_ok)
                    outcomes.append(RuleOutcome(rule.id, slot, rule.priority, True))
                else:
                    outcomes.append(RuleOutcome(rule.id, slot, rule.priority, False, reason))
        return Decision(winners, tuple(outcomes), False, state)

    def why_not(self, rule: Rule, visit: Visit, state: bool) -> str | None:
        """The first reason `rule` does not match `visit`, or None when it does."""
        if not rule.purposes <= visit.granted:
            return self.missing(rule, visit.granted)
        if rule.schedule is not None:
            why = rule.schedule.why_not(visit.local_time)
            if why is not None:
                return why
        if rule.frequency is not None and state:
            if visit.impressions.get(rule.id, 0) >= rule.frequency.max:
                return f"frequency cap {rule.frequency.max} per {rule.frequency.per} reached"
        if not rule.condition.test(visit.attributes):
            return failed_clause(rule, visit.attributes)
        for name in self.template_needs.get(rule.id, ()):
            if _lookup(visit.attributes, name) is None:
                return f"template needs {name}, which this visitor lacks"
        return None

    def personal_allowed(self, granted: frozenset[str]) -> bool:
        """Whether personal recommendation strategies may read behaviour data."""
        return BEHAVIOR_PROFILE in self.policy.allowed(granted)

    @staticmethod
    def missing(rule: Rule, granted: frozenset[str]) -> str:
        """Which purpose a gated rule lacks, and what it reads under it."""
        for purpose, name in rule.needs:
            if purpose not in granted:
                return f"needs purpose {purpose!r} (reads {name})"
        return "needs an ungranted purpose"  # pragma: no cover - purposes come from needs

    def slot_decision(
        self, rule: Rule, visit: Visit | None, state: bool, personal_ok: bool
    ) -> SlotDecision:
        """The winner's action (its experiment arm chosen) for `visit`."""
        experiment = rule.experiment
        variant: Variant | None = None
        sticky = False
        if experiment is not None:
            assert visit is not None
            variant, sticky = self.variant(rule, visit, state)
            action: Action = variant.action
        else:
            assert rule.action is not None
            action = rule.action
        if isinstance(action, Recommend) and not personal_ok:
            action = action.without_personal()
        return SlotDecision(
            slot=rule.slot,
            rule_id=rule.id,
            action=action,
            purposes=rule.purposes,
            experiment=experiment.key if experiment else None,
            variant=variant.id if variant else None,
            sticky=sticky,
            capped=rule.frequency.per if rule.frequency is not None else None,
        )

    def variant(self, rule: Rule, visit: Visit, state: bool) -> tuple[Variant, bool]:
        """The experiment arm for this visit and whether it is sticky (see the module doc)."""
        experiment = rule.experiment
        assert experiment is not None
        control = experiment.variants[0]
        forced = visit.forced_variants.get(experiment.key)
        if forced is not None:
            # Preview links force an arm for one operator and never set sticky state.
            found = next((v for v in experiment.variants if v.id == forced), None)
            return (found or control), False
        if state and visit.subject is not None:
            n = bucket_hash(experiment.key, visit.subject, HASH_VERSION)
            index = choose_variation(n, experiment.ranges) if n is not None else -1
            return (experiment.variants[index] if index >= 0 else control), index >= 0
        if self.anonymous_variant == "per_request" and visit.request_bucket is not None:
            index = choose_variation(visit.request_bucket, experiment.ranges)
            return (experiment.variants[index] if index >= 0 else control), False
        return control, False


def _settled_test(
    rule: Rule, known: Mapping[str, str], attributes: Mapping[str, Any]
) -> Test | None:
    """The rule's test without the clauses the plan settles: those `_fits` proved true for
    `known` values, and those on `consent` (a function of the granted purposes, part of the
    plan's key), evaluated here once. None when a consent clause rejects the rule."""
    condition = rule.condition
    settled = {name for name in known if name in condition.required}
    for key, test in condition.clauses:
        if key == "consent" or key.startswith("consent."):
            if not test(attributes):
                return None
            settled.add(key)
    if not condition.clauses:
        return _always  # `when: {}`
    if not settled:
        return condition.test
    rest = tuple(test for key, test in condition.clauses if key not in settled)
    if not rest:
        return _always
    if len(rest) == 1:
        return rest[0]
    if len(rest) == 2:
        first, second = rest
        return lambda attributes: first(attributes) and second(attributes)

    def all_of(attributes: Mapping[str, Any]) -> bool:
        for test in rest:
            if not test(attributes):
                return False
        return True

    return all_of


def _always(_: Any) -> bool:
    return True


def template_needs(rule: Rule) -> tuple[str, ...]:
    """The attributes (not the banner's own vars) any of the rule's banner templates reads
    unguarded; for an experiment, every arm's, so no arm can fail to render."""
    needs: set[str] = set()
    for action in rule.actions:
        if isinstance(action, Banner):
            needs.update(
                name
                for name in action.template.required
                if name.split(".", 1)[0] in ROOTS and name.split(".", 1)[0] not in action.vars
            )
    return tuple(sorted(needs))


def _with_fields(test: Test, needs: tuple[str, ...]) -> Test:
    """`test`, and every field in `needs` present and not None."""

    def holds(attributes: Mapping[str, Any]) -> bool:
        if not test(attributes):
            return False
        for name in needs:
            if _lookup(attributes, name) is None:
                return False
        return True

    return holds


def _fits(rule: Rule, known: Mapping[str, str]) -> bool:
    """False when a top-level clause on a known attribute rejects its value."""
    required = rule.condition.required
    for name, value in known.items():
        wanted = required.get(name)
        if wanted is not None and value not in wanted:
            return False
    return True


def failed_clause(rule: Rule, attributes: Mapping[str, Any]) -> str:
    """The first top-level clause of the rule's condition that does not hold, with the value."""
    for key, holds in rule.condition.explain(attributes):
        if not holds:
            if key.startswith("$"):
                return f"when: {key} does not hold"
            return f"when: {key} does not match (is {_lookup(attributes, key)!r})"
    return "when: does not hold"  # pragma: no cover - test() and explain() agree


def _lookup(attributes: Mapping[str, Any], dotted: str) -> Any:
    value: Any = attributes
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


# -- slot HTML -----------------------------------------------------------------------------------


def recommend_context(
    attributes: Mapping[str, Any], profile: VisitorProfile | None
) -> RecommendContext:
    """What recommendation strategies may know: the page, weather, country, and the profile
    (pass `profile` only when the purpose covering behaviour data is granted)."""
    page = attributes.get("page") or {}
    weather = attributes.get("weather") or {}
    geo = attributes.get("geo") or {}
    return RecommendContext(
        page_sku=page.get("sku"),
        page_category=page.get("category"),
        weather=weather.get("condition", "unknown"),
        temperature=weather.get("temperature"),
        country=geo.get("country"),
        viewed_skus=profile.viewed_skus if profile else (),
        purchased_skus=profile.purchased_skus if profile else (),
    )


def render(
    decision: Decision,
    attributes: Mapping[str, Any],
    recommender: Recommender,
    context: RecommendContext,
    *,
    language: str = "en",
    styles: bool = True,
) -> dict[str, str]:
    """Slot name -> HTML for every slot that has a winner and renders to something.

    A banner whose template fails, or a recommendation without products, leaves the slot
    to the storefront's own content. Prices are formatted for `language`; `styles` adds the
    product grid's default stylesheet (`personalization.default_styles`).
    """
    out: dict[str, str] = {}
    for slot, won in decision.slots.items():
        html = render_action(
            won.action, attributes, recommender, context, language=language, styles=styles
        )
        if html:
            out[slot] = html
    return out


def render_action(
    action: Action,
    attributes: Mapping[str, Any],
    recommender: Recommender,
    context: RecommendContext,
    *,
    language: str = "en",
    styles: bool = True,
) -> str | None:
    """One action's HTML (None when it produces nothing)."""
    if isinstance(action, Banner):
        return action.template.render({**attributes, **action.vars})
    products = recommender.recommend(action.strategies, action.count, action.exclusions, context)
    if not products:
        return None
    return render_products(products, action.title, language=language, styles=styles)
