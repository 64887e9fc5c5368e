"""Personalization on the request path: rules decide each `data-slot`'s content.

The I/O shell around `personalization_rules`: per HTML request it gathers what rules may read
(weather within its budget, the visitor's profile under the purpose that covers it), builds the
attributes, asks the engine (compiled once at start) and hands the winners' HTML to `SlotFill`.
Failure policy: personalization fails open — any error leaves the shop's own slot content.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, cast

from starlette.types import Scope

from gateway.html.slot_fill import SlotFill
from gateway.html.stage import DocumentEnd, Stage, StartTag
from gateway.proxy.visitor import Visitor
from personalization_rules.attributes import (
    VISITOR_TYPES,
    RequestFacts,
    VisitorProfile,
    VisitorType,
)
from personalization_rules.engine import Decision, SlotDecision
from personalization_rules.geo import GeoPlace
from personalization_rules.personalizer import Personalizer, rule_headers
from personalization_rules.preview import PreviewGrant
from personalization_rules.recommender import Recommender
from personalization_rules.weather_codes import Weather
from policies.loader import LoadedConfig

log = logging.getLogger("consentgate.personalization")


class WeatherSource(Protocol):
    """Current weather within the provider's budget; None when unknown."""

    async def current(self, latitude: float, longitude: float) -> Weather | None: ...


# The visitor's profile (None: unknown); called only when its purpose is granted.
ProfileSource = Callable[[Visitor], Awaitable[VisitorProfile | None]]
# Told what each page decided (path, decision); must not block (queues the write).
Tracker = Callable[[Visitor, str, Decision], object]
# How often the subject saw each capped rule (rule id -> period) in its current period;
# called only where state may be kept (a subject and the purpose covering behaviour data).
ImpressionSource = Callable[[Visitor, Mapping[str, str]], Awaitable[Mapping[str, int]]]
# Told, once the page has streamed, which capped winners it really showed (queues the write).
ShownSink = Callable[[Visitor, Sequence[SlotDecision]], object]


@dataclass
class Prepared:
    """The asynchronous inputs gathered before the page streams."""

    weather: Weather | None = None
    profile: VisitorProfile | None = None
    impressions: Mapping[str, int] = field(default_factory=dict)
    # A verified preview link: forces arms or a visitor type; no state is read or written.
    preview: PreviewGrant | None = None


@dataclass
class Outcome:
    """One request's decision and the slot HTML it produced (kept for the DSR bundle)."""

    decision: Decision
    html: Mapping[str, str]


async def current_weather(source: WeatherSource, place: GeoPlace | None) -> Weather | None:
    """The weather at the visitor's place as rules see it; None when the place has no
    coordinates or the lookup fails (fails open: rules see weather "unknown")."""
    if place is None or place.latitude is None:
        return None
    try:
        return await source.current(place.latitude, place.longitude or 0.0)
    except Exception as exc:
        log.warning("weather lookup failed: %s", type(exc).__name__)
        return None


class Personalization:
    """Built once per app from the loaded config."""

    def __init__(
        self,
        loaded: LoadedConfig,
        weather: WeatherSource | None = None,
        recommender: Recommender | None = None,
        profiles: ProfileSource | None = None,
        tracker: Tracker | None = None,
        impressions: ImpressionSource | None = None,
        shown: ShownSink | None = None,
    ) -> None:
        config = loaded.config
        self.config = config
        self.personalizer = Personalizer(loaded, recommender)
        self.rules = self.personalizer.rules
        self.engine = self.personalizer.engine
        self.weather = weather
        self.profiles = profiles
        self.tracker = tracker
        self.impressions = impressions
        self.shown = shown
        # Rule id -> frequency period, for the rules with a cap (`frequency`).
        self.caps = {r.id: r.frequency.per for r in self.rules if r.frequency is not None}
        self._random = random.Random()

    @property
    def active(self) -> bool:
        """Whether any rule exists (no rules: nothing to decide, pages stream untouched)."""
        return bool(self.rules)

    async def prepare(self, visitor: Visitor, preview: PreviewGrant | None = None) -> Prepared:
        """Weather (within its budget), the profile and the impression counts of capped
        rules (only under the purpose covering them); a preview's forced visitor type stands
        in for the stored profile."""
        prepared = Prepared(preview=preview)
        if self.weather is not None:
            prepared.weather = await current_weather(self.weather, visitor.place)
        granted = visitor.state.granted
        if preview is not None and preview.visitor_type in VISITOR_TYPES:
            # Synthetic, not the operator's own profile; still shown only under the purpose
            # covering behaviour data (the attribute builder gates it like a real one).
            prepared.profile = VisitorProfile(type=cast(VisitorType, preview.visitor_type))
            return prepared
        if visitor.subject is None or not self.engine.personal_allowed(granted):
            return prepared
        if self.profiles is not None:
            try:
                prepared.profile = await self.profiles(visitor)
            except Exception as exc:
                log.warning("profile lookup failed: %s", type(exc).__name__)
        if self.impressions is not None and self.caps and preview is None:
            try:
                prepared.impressions = await self.impressions(visitor, self.caps)
            except Exception as exc:  # fails open: the cap counts from zero for this page
                log.warning("impression lookup failed: %s", type(exc).__name__)
        return prepared

    def decide(self, visitor: Visitor, scope: Scope, prepared: Prepared) -> Outcome:
        """Rules for this request, and the slot HTML of the winners."""
        pairs = (
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in scope["headers"]
            if k in (b"user-agent", b"referer")  # only these reach rules: decode no others
        )
        query = scope.get("query_string", b"").decode("latin-1")
        facts = RequestFacts(
            path=scope["path"] + ("?" + query if query else ""),
            now=datetime.now(UTC),
            headers=rule_headers(pairs),
            place=visitor.place,
            weather=prepared.weather,
            granted=visitor.state.granted,
            profile=prepared.profile,
        )
        preview = prepared.preview
        # A preview is not the operator's own visit: no subject, so no sticky arm, holdout or
        # cap applies; forced arms come from the signed link.
        subject = visitor.subject.id if visitor.subject is not None and preview is None else None
        page = self.personalizer.personalize(
            facts,
            subject=subject,
            impressions=prepared.impressions,
            request_bucket=self._random.random(),
            forced_variants=preview.variants if preview is not None else None,
            language=visitor.language,
            styles=self.config.personalization.default_styles,
        )
        return Outcome(page.decision, page.html)

    def stages(self, visitor: Visitor, scope: Scope, prepared: Prepared) -> list[Stage]:
        """The slot-filling stage for this page (empty when no rule won)."""
        outcome = self.decide(visitor, scope, prepared)
        # A preview records nothing: no exposure, no decision, no profile update.
        if self.tracker is not None and prepared.preview is None:
            try:
                self.tracker(visitor, scope["path"], outcome.decision)
            except Exception as exc:  # bookkeeping never breaks a page
                log.warning("profile tracking failed: %s", type(exc).__name__)
        if not outcome.html:
            return []
        capped = {
            slot: won
            for slot, won in outcome.decision.slots.items()
            if won.capped is not None and slot in outcome.html
        }
        if capped and self.shown is not None and prepared.preview is None:
            sink = self.shown
            return [CountedSlotFill(outcome.html, capped, lambda shown: sink(visitor, shown))]
        return [SlotFill(outcome.html)]


class CountedSlotFill(SlotFill):
    """Slot filling that, at the end of the page, reports the capped winners it filled: a
    frequency cap counts what was shown, not what was decided for a slot the page lacks."""

    def __init__(
        self,
        contents: Mapping[str, str],
        capped: Mapping[str, SlotDecision],
        report: Callable[[list[SlotDecision]], object],
    ) -> None:
        super().__init__(contents)
        self.capped = dict(capped)
        self.report = report
        self.filled: set[str] = set()

    def start_tag(self, tag: StartTag) -> None:
        super().start_tag(tag)
        slot = tag.get("data-slot")
        if slot is not None and slot.strip() in self.capped:
            self.filled.add(slot.strip())

    def end_document(self, doc: DocumentEnd) -> None:
        if not self.filled:
            return
        try:
            self.report([self.capped[slot] for slot in sorted(self.filled)])
        except Exception as exc:  # bookkeeping never breaks a page
            log.warning("impression tracking failed: %s", type(exc).__name__)
