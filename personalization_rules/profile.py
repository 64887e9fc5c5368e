"""Visitor types from what a subject did (pure): profile facts in, `VisitorProfile` out.

A subject's profile is a small summary (`ProfileFacts`) kept instead of replaying every event
on each request: first and last time seen, how many sessions, views per category and per SKU,
the last SKUs viewed and bought, cart adds and purchases with their last times. `apply`
folds one event into it; `classify` reads it at `now`.

`visitor.type`, the first that holds (`Thresholds` has the numbers, config
`personalization.visitor_types`):

1. `customer`: at least one purchase.
2. `cart_abandoner`: added to a cart, no purchase since, no cart activity for
   `cart_abandoned_after` (default 1 h).
3. `engaged`: at least `engaged_category_views` views in one category (default 3) or
   `engaged_sku_views` views of one SKU (default 2).
4. `returning_non_buyer`: seen in an earlier session and never bought. When the shop sends
   no purchase events (`purchases_tracked=False`) nobody can tell a non-buyer, so the type
   is the plainer `returning`.
5. `new`: otherwise: the first session.

A session ends after `session_gap` without activity (default 30 minutes, Google Analytics'
session timeout). The profile is read before the current request is recorded, so a visitor
whose last activity is older than the gap is in a new, later session: returning.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from personalization_rules.attributes import VisitorProfile, VisitorType
from policies.models import VisitorTypeSettings

EventType = Literal["view", "add_to_cart", "purchase"]
EVENT_TYPES: Final[tuple[str, ...]] = ("view", "add_to_cart", "purchase")

# Bounds on one profile, so a crawler with a consent cookie cannot grow a row without limit.
MAX_CATEGORIES: Final = 64
MAX_SKUS: Final = 256
MAX_RECENT: Final = 20
MAX_PURCHASED: Final = 50


@dataclass(frozen=True)
class Thresholds:
    """The numbers behind `visitor.type` (see the module docstring)."""

    engaged_category_views: int = 3
    engaged_sku_views: int = 2
    cart_abandoned_after: timedelta = timedelta(hours=1)
    session_gap: timedelta = timedelta(minutes=30)
    purchases_tracked: bool = True

    @classmethod
    def from_settings(cls, settings: VisitorTypeSettings, purchases_tracked: bool) -> Thresholds:
        """From `personalization.visitor_types`; `purchases_tracked` when the shop sends
        purchase events (an events token is configured)."""
        return cls(
            engaged_category_views=settings.engaged_category_views,
            engaged_sku_views=settings.engaged_sku_views,
            cart_abandoned_after=timedelta(minutes=settings.cart_abandoned_after_minutes),
            session_gap=timedelta(seconds=settings.session_gap_seconds),
            purchases_tracked=purchases_tracked,
        )


@dataclass(frozen=True)
class ShopEvent:
    """One behaviour event: a page view through the gateway or a shop event.

    `order_id` is whatever the store keeps for grouping an order (a keyed pseudonym of the
    shop's order id, never the id itself: see gateway.routes.events).
    """

    type: EventType
    ts: datetime
    sku: str | None = None
    category: str | None = None
    country: str | None = None
    order_value: float | None = None
    order_id: str | None = None
    currency: str | None = None


@dataclass(frozen=True)
class ProfileFacts:
    """What the profile keeps about one subject (the JSON in `cg_profiles.facts`)."""

    first_seen: datetime | None = None
    last_seen: datetime | None = None
    sessions: int = 0
    category_views: Mapping[str, int] = field(default_factory=dict)
    sku_views: Mapping[str, int] = field(default_factory=dict)
    recent_skus: tuple[str, ...] = ()  # most recent first
    cart_adds: int = 0
    last_cart: datetime | None = None
    purchases: int = 0
    last_purchase: datetime | None = None
    purchased_skus: tuple[str, ...] = ()  # most recent first
    country: str | None = None  # where the last page view came from (ISO 3166-1)
    customer: str | None = None  # keyed pseudonym from an `identify` event, never the id

    def touched(self, now: datetime, gap: timedelta) -> ProfileFacts:
        """Activity at `now`: first/last seen, and a new session after `gap` of silence."""
        new_session = self.last_seen is None or now - self.last_seen > gap
        return replace(
            self,
            first_seen=self.first_seen or now,
            last_seen=max(now, self.last_seen) if self.last_seen else now,
            sessions=self.sessions + (1 if new_session else 0),
        )

    def apply(self, event: ShopEvent, gap: timedelta) -> ProfileFacts:
        """The facts after `event` (a session boundary counts as in `touched`)."""
        facts = self.touched(event.ts, gap)
        if event.type == "view":
            categories = dict(facts.category_views)
            skus = dict(facts.sku_views)
            if event.category:
                categories[event.category] = categories.get(event.category, 0) + 1
            recent = facts.recent_skus
            if event.sku:
                skus[event.sku] = skus.get(event.sku, 0) + 1
                recent = _front(event.sku, recent, MAX_RECENT)
            return replace(
                facts,
                category_views=_capped(categories, MAX_CATEGORIES),
                sku_views=_capped(skus, MAX_SKUS),
                recent_skus=recent,
                country=event.country or facts.country,
            )
        if event.type == "add_to_cart":
            return replace(facts, cart_adds=facts.cart_adds + 1, last_cart=event.ts)
        purchased = facts.purchased_skus
        if event.sku:
            purchased = _front(event.sku, purchased, MAX_PURCHASED)
        return replace(
            facts, purchases=facts.purchases + 1, last_purchase=event.ts, purchased_skus=purchased
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping (times as RFC 3339 UTC strings)."""
        return {
            "first_seen": _iso(self.first_seen),
            "last_seen": _iso(self.last_seen),
            "sessions": self.sessions,
            "category_views": dict(self.category_views),
            "sku_views": dict(self.sku_views),
            "recent_skus": list(self.recent_skus),
            "cart_adds": self.cart_adds,
            "last_cart": _iso(self.last_cart),
            "purchases": self.purchases,
            "last_purchase": _iso(self.last_purchase),
            "purchased_skus": list(self.purchased_skus),
            "country": self.country,
            "customer": self.customer,
        }

    @classmethod
    def from_json(cls, data: object) -> ProfileFacts:
        """Facts from `to_json` output; missing or malformed fields take their defaults."""
        if not isinstance(data, dict):
            return cls()
        return cls(
            first_seen=_time(data.get("first_seen")),
            last_seen=_time(data.get("last_seen")),
            sessions=_count(data.get("sessions")),
            category_views=_counts(data.get("category_views")),
            sku_views=_counts(data.get("sku_views")),
            recent_skus=_strings(data.get("recent_skus")),
            cart_adds=_count(data.get("cart_adds")),
            last_cart=_time(data.get("last_cart")),
            purchases=_count(data.get("purchases")),
            last_purchase=_time(data.get("last_purchase")),
            purchased_skus=_strings(data.get("purchased_skus")),
            country=_text(data.get("country")),
            customer=_text(data.get("customer")),
        )


def classify(facts: ProfileFacts, now: datetime, thresholds: Thresholds) -> VisitorType:
    """The visitor type at `now` (precedence in the module docstring)."""
    if facts.purchases > 0:
        return "customer"
    if (
        facts.cart_adds > 0
        and facts.last_cart is not None
        and (facts.last_purchase is None or facts.last_purchase < facts.last_cart)
        and now - facts.last_cart >= thresholds.cart_abandoned_after
    ):
        return "cart_abandoner"
    if engaged_categories(facts, thresholds) or engaged_skus(facts, thresholds):
        return "engaged"
    if earlier_session(facts, now, thresholds.session_gap):
        return "returning_non_buyer" if thresholds.purchases_tracked else "returning"
    return "new"


def earlier_session(facts: ProfileFacts, now: datetime, gap: timedelta) -> bool:
    """True when the subject was active in a session before the one at `now`."""
    if facts.sessions >= 2:
        return True
    return facts.sessions >= 1 and facts.last_seen is not None and now - facts.last_seen > gap


def engaged_categories(facts: ProfileFacts, thresholds: Thresholds) -> tuple[str, ...]:
    """Categories viewed at least `engaged_category_views` times, most viewed first."""
    return _at_least(facts.category_views, thresholds.engaged_category_views)


def engaged_skus(facts: ProfileFacts, thresholds: Thresholds) -> tuple[str, ...]:
    """SKUs viewed at least `engaged_sku_views` times, most viewed first."""
    return _at_least(facts.sku_views, thresholds.engaged_sku_views)


def visitor_profile(facts: ProfileFacts, now: datetime, thresholds: Thresholds) -> VisitorProfile:
    """What rules and recommendations see of this subject at `now`."""
    return VisitorProfile(
        type=classify(facts, now, thresholds),
        engaged_categories=engaged_categories(facts, thresholds),
        engaged_skus=engaged_skus(facts, thresholds),
        viewed_skus=facts.recent_skus,
        purchased_skus=facts.purchased_skus,
    )


def fold(
    events: Iterable[ShopEvent], gap: timedelta, facts: ProfileFacts | None = None
) -> ProfileFacts:
    """`apply` each event in time order, from `facts` (or nothing)."""
    out = facts or ProfileFacts()
    for event in sorted(events, key=lambda e: e.ts):
        out = out.apply(event, gap)
    return out


# -- helpers -----------------------------------------------------------------------------------


def _front(item: str, items: tuple[str, ...], limit: int) -> tuple[str, ...]:
    return (item, *(i for i in items if i != item))[:limit]


def _capped(counts: dict[str, int], limit: int) -> dict[str, int]:
    if len(counts) <= limit:
        return counts
    # Keep the most viewed; the least viewed go first (ties by name, deterministic).
    kept = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return dict(kept)


def _at_least(counts: Mapping[str, int], n: int) -> tuple[str, ...]:
    hits = [(k, v) for k, v in counts.items() if v >= n]
    return tuple(k for k, _ in sorted(hits, key=lambda kv: (-kv[1], kv[0])))


def _iso(ts: datetime | None) -> str | None:
    return ts.astimezone(UTC).isoformat() if ts is not None else None


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        return None
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _counts(value: object) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    return {str(k): n for k, v in value.items() if (n := _count(v)) > 0}


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
