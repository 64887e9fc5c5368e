"""One page's personalization, from what is known about the request to each slot's HTML (pure).

`Personalizer` is the single path from visitor facts to a decision: the request path
(`gateway.personalization.slots`) and `consentgate rules explain` both call `personalize`, so what
explain prints is what a page with the same facts gets. The callers differ only in how they
gather the facts (a live request and its stores, or command-line flags) and in what they ask
for (`explain=True` records every rule's fate; the request path wants speed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from personalization_rules.attributes import AttributeBuilder, RequestFacts, local_time
from personalization_rules.engine import Decision, Engine, Visit, recommend_context, render
from personalization_rules.recommender import CatalogRecommender, Recommender, load_products
from personalization_rules.rules import load_rules
from policies.loader import LoadedConfig

# The request headers rules read (`device`, `referrer.host`); nothing else reaches them.
RULE_HEADERS = frozenset({"user-agent", "referer"})
MAX_HEADER = 1024  # user agents, referrers: longer values are cut before rules see them


def rule_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The headers rules read, lower-case names, values cut at `MAX_HEADER` (the last wins)."""
    out: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        if key in RULE_HEADERS:
            out[key] = value[:MAX_HEADER]
    return out


@dataclass(frozen=True)
class Personalized:
    """One request's attributes, decision and the slot HTML the winners render."""

    attributes: Mapping[str, Any]
    decision: Decision
    html: Mapping[str, str]


class Personalizer:
    """Rules, engine, attribute builder and recommender, compiled once from the config."""

    def __init__(self, loaded: LoadedConfig, recommender: Recommender | None = None) -> None:
        config = loaded.config
        self.rules = load_rules(loaded.rule_files, config)
        self.engine = Engine(self.rules, config.personalization)
        products = load_products(config.catalog) if config.catalog else []
        categories = {p.sku: p.category for p in products}
        self.builder = AttributeBuilder(
            config.personalization, [p.id for p in config.purposes], categories.get
        )
        self.recommender = recommender or CatalogRecommender(products)

    def personalize(
        self,
        facts: RequestFacts,
        *,
        subject: str | None = None,
        impressions: Mapping[str, int] | None = None,
        request_bucket: float | None = None,
        forced_variants: Mapping[str, str] | None = None,
        language: str = "en",
        styles: bool = True,
        explain: bool = False,
    ) -> Personalized:
        """Attributes from `facts`, the engine's decision (see `engine.Visit` for the keyword
        arguments) and the winners' HTML in `language`, with the product grid's stylesheet
        when `styles`; `explain` records why each rule matched or not."""
        attributes = self.builder.build(facts)
        place = facts.place
        visit = Visit(
            attributes=attributes,
            granted=facts.granted,
            local_time=local_time(facts.now, place.time_zone if place else None),
            subject=subject,
            impressions=impressions or {},
            request_bucket=request_bucket,
            forced_variants=forced_variants or {},
        )
        decision = self.engine.decide(visit, explain=explain)
        # Personal strategies read the profile only under the purpose covering it.
        personal = self.engine.personal_allowed(facts.granted)
        context = recommend_context(attributes, facts.profile if personal else None)
        html = render(
            decision, attributes, self.recommender, context, language=language, styles=styles
        )
        return Personalized(attributes, decision, html)
