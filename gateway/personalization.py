"""Personalization on the request path: rules decide each `data-slot`'s content.

The I/O shell around `personalization_rules`: per HTML request it gathers what rules may read
(weather within its budget, the visitor's profile under the purpose that covers it), builds the
attributes, asks the engine (compiled once at start) and hands the winners' HTML to `SlotFill`.
Failure policy: personalization fails open — any error leaves the shop's own slot content.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from starlette.types import Scope

from gateway.html.slot_fill import SlotFill
from gateway.html.stage import Stage
from gateway.visitor import Visitor
from personalization_rules.attributes import (
    AttributeBuilder,
    RequestFacts,
    VisitorProfile,
    Weather,
    local_time,
)
from personalization_rules.engine import Decision, Engine, Visit, recommend_context, render
from personalization_rules.recommender import CatalogRecommender, Recommender, load_products
from personalization_rules.rules import load_rules
from policies.loader import LoadedConfig

log = logging.getLogger("consentgate.personalization")

MAX_HEADER = 1024  # user agents, referrers: longer values are cut before rules see them


class WeatherSource(Protocol):
    """Current weather within the provider's budget; None when unknown."""

    async def current(self, latitude: float, longitude: float) -> Any: ...


# The visitor's profile (None: unknown); called only when its purpose is granted.
ProfileSource = Callable[[Visitor], Awaitable[VisitorProfile | None]]
# Told what each page decided (path, decision); must not block (queues the write).
Tracker = Callable[[Visitor, str, Decision], object]


@dataclass
class Prepared:
    """The asynchronous inputs gathered before the page streams."""

    weather: Weather | None = None
    profile: VisitorProfile | None = None


@dataclass
class Outcome:
    """One request's decision and the slot HTML it produced (kept for the DSR bundle)."""

    decision: Decision
    html: Mapping[str, str]


def _weather(value: Any) -> Weather | None:
    if value is None:
        return None
    if isinstance(value, Weather):
        return value
    # personalization_rules.weather.Weather (provider) → the attribute view.
    return Weather(
        code=getattr(value, "code", None),
        temperature=getattr(value, "temperature_c", getattr(value, "temperature", None)),
        feels_like=getattr(value, "feels_like_c", getattr(value, "feels_like", None)),
    )


class Personalization:
    """Built once per app from the loaded config."""

    def __init__(
        self,
        loaded: LoadedConfig,
        weather: WeatherSource | None = None,
        recommender: Recommender | None = None,
        profiles: ProfileSource | None = None,
        tracker: Tracker | None = None,
    ) -> None:
        config = loaded.config
        self.config = config
        self.rules = load_rules(loaded.rule_files, config)
        self.engine = Engine(self.rules, config.personalization)
        products = load_products(config.catalog) if config.catalog else []
        categories = {p.sku: p.category for p in products}
        self.builder = AttributeBuilder(
            config.personalization, [p.id for p in config.purposes], categories.get
        )
        self.recommender = recommender or CatalogRecommender(products)
        self.weather = weather
        self.profiles = profiles
        self.tracker = tracker
        self.personal_purposes = frozenset(
            pid for pid in config.personalization.data_purposes.values() if pid
        )
        self._random = random.Random()

    @property
    def active(self) -> bool:
        """Whether any rule exists (no rules: nothing to decide, pages stream untouched)."""
        return bool(self.rules)

    async def prepare(self, visitor: Visitor) -> Prepared:
        """Weather (within its budget) and the profile (only under its purpose)."""
        prepared = Prepared()
        place = visitor.place
        if self.weather is not None and place and place.latitude is not None:
            try:
                raw = await self.weather.current(place.latitude, place.longitude or 0.0)
                prepared.weather = _weather(raw)
            except Exception as exc:  # fails open: rules see weather "unknown"
                log.warning("weather lookup failed: %s", type(exc).__name__)
        granted = visitor.state.granted
        if (
            self.profiles is not None
            and visitor.subject is not None
            and self.engine.personal_allowed(granted)
        ):
            try:
                prepared.profile = await self.profiles(visitor)
            except Exception as exc:
                log.warning("profile lookup failed: %s", type(exc).__name__)
        return prepared

    def decide(self, visitor: Visitor, scope: Scope, prepared: Prepared) -> Outcome:
        """Rules for this request, and the slot HTML of the winners."""
        now = datetime.now(UTC)
        granted = visitor.state.granted
        headers = {
            k.decode("latin-1"): v.decode("latin-1")[:MAX_HEADER]
            for k, v in scope["headers"]
            if k in (b"user-agent", b"referer")
        }
        query = scope.get("query_string", b"").decode("latin-1")
        facts = RequestFacts(
            path=scope["path"] + ("?" + query if query else ""),
            now=now,
            headers=headers,
            place=visitor.place,
            weather=prepared.weather,
            granted=granted,
            profile=prepared.profile,
        )
        attributes = self.builder.build(facts)
        place = visitor.place
        visit = Visit(
            attributes=attributes,
            granted=granted,
            local_time=local_time(now, place.time_zone if place else None),
            subject=visitor.subject.id if visitor.subject is not None else None,
            request_bucket=self._random.random(),
        )
        decision = self.engine.decide(visit)
        personal = self.engine.personal_allowed(granted)
        context = recommend_context(attributes, prepared.profile if personal else None)
        html = render(decision, attributes, self.recommender, context)
        return Outcome(decision, html)

    def stages(self, visitor: Visitor, scope: Scope, prepared: Prepared) -> list[Stage]:
        """The slot-filling stage for this page (empty when no rule won)."""
        outcome = self.decide(visitor, scope, prepared)
        if self.tracker is not None:
            try:
                self.tracker(visitor, scope["path"], outcome.decision)
            except Exception as exc:  # bookkeeping never breaks a page
                log.warning("profile tracking failed: %s", type(exc).__name__)
        return [SlotFill(outcome.html)] if outcome.html else []
