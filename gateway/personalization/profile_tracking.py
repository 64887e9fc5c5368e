"""Personalization's memory on the request path: reading profiles, recording what pages
taught, and keeping aggregates and the catalog fresh in the background.

The I/O shell around `personalization_rules.profile_store`, `.event_queue`, `.aggregates`
and `.recommendations`. Per HTML request:

- `profile(visitor)` (a `gateway.personalization.slots.ProfileSource`) reads the subject's profile;
- `observe(visitor, path, decision)` queues what the request taught: a product or category
  view (or bare activity on other pages), the slot decisions that relied on a purpose, and
  sticky experiment exposures. It never awaits: the page does not wait for bookkeeping.

Both act only for a visitor with a subject and the purpose covering `behavior.profile`
granted (profile updates happen only under the purpose that covers them, and only for
visitors who have a subject); otherwise nothing is read and nothing is recorded.

`start(store)` opens the profile store, starts the queue's writer and one refresh loop
(aggregates every `personalization.aggregates_refresh_seconds`, the catalog file's mtime
every few seconds); `stop()` writes what is queued and ends both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from gateway.proxy.visitor import Visitor
from personalization_rules.aggregates import AggregateCache
from personalization_rules.attributes import (
    BEHAVIOR_PROFILE,
    DataPolicy,
    PagePatterns,
    VisitorProfile,
)
from personalization_rules.engine import Decision, SlotDecision
from personalization_rules.event_queue import EventQueue
from personalization_rules.profile import ShopEvent, Thresholds
from personalization_rules.profile_store import Observation, ProfileStore
from personalization_rules.recommendations import (
    CATALOG_CHECK_SECONDS,
    AggregateRecommender,
    CatalogFile,
)
from personalization_rules.recommender import Product
from policies.models import Config
from storage.store import Store

log = logging.getLogger("consentgate.personalization")

QUEUE_SIZE = 10_000
BATCH_MAX = 256


class ProfileTracking:
    """Built once per app from the config (module docstring)."""

    def __init__(self, config: Config) -> None:
        settings = config.personalization
        self.policy = DataPolicy(dict(settings.data_purposes))
        self.thresholds = Thresholds.from_settings(
            settings.visitor_types, purchases_tracked=settings.events_token is not None
        )
        self.pages = PagePatterns(settings.page_types)
        self.catalog = CatalogFile(config.catalog) if config.catalog else None
        self.cache = AggregateCache(settings.k_anonymity, settings.trending_days)
        self.recommender = AggregateRecommender(
            self.catalog.products if self.catalog else (), self.cache
        )
        self.refresh_seconds = settings.aggregates_refresh_seconds
        self.store: ProfileStore | None = None
        self.queue: EventQueue[Observation] = EventQueue(self._write, QUEUE_SIZE, BATCH_MAX)
        self._loop: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, store: Store) -> None:
        """Use `store` (already migrated) and start the writer and the refresh loop."""
        self.store = ProfileStore(store, self.thresholds)
        self.queue.start()
        if self._loop is None:
            self._loop = asyncio.create_task(self._refresh_loop(), name="consentgate-aggregates")

    async def stop(self) -> None:
        """Write what is queued, then stop the background tasks."""
        await self.queue.close()
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None

    async def _write(self, batch: Sequence[Observation]) -> None:
        if self.store is None:
            raise RuntimeError("the profile store is not open")
        await self.store.apply(batch)

    async def _refresh_loop(self) -> None:
        tick = min(self.refresh_seconds, CATALOG_CHECK_SECONDS)
        due = 0.0
        while True:
            try:
                if self.catalog is not None and self.catalog.check():
                    self.recommender.replace_catalog(self.catalog.products)
                    log.info("catalog reloaded: %d products", len(self.catalog.products))
                if self.store is not None and time.monotonic() >= due:
                    await self.cache.refresh(self.store.store, datetime.now(UTC))
                    due = time.monotonic() + self.refresh_seconds
            except Exception as exc:  # the last good snapshot stays; try again next tick
                log.warning("aggregate refresh failed: %s", type(exc).__name__)
            await asyncio.sleep(tick)

    # -- request path --------------------------------------------------------------------------

    def allowed(self, visitor: Visitor) -> bool:
        """A subject, and the purpose covering behaviour data granted."""
        return visitor.subject is not None and BEHAVIOR_PROFILE in self.policy.allowed(
            visitor.state.granted
        )

    async def profile(self, visitor: Visitor) -> VisitorProfile | None:
        """The visitor's profile; None without a subject, the purpose, or a store."""
        if self.store is None or visitor.subject is None or not self.allowed(visitor):
            return None
        return await self.store.profile(visitor.subject.id, datetime.now(UTC))

    async def impressions(self, visitor: Visitor, caps: Mapping[str, str]) -> Mapping[str, int]:
        """Frequency-cap counts of the capped rules in their current periods (`caps`: rule id
        -> period); empty without a subject, the purpose, or a store (no consent: no cap)."""
        if self.store is None or visitor.subject is None or not self.allowed(visitor):
            return {}
        return await self.store.impressions(visitor.subject.id, caps, datetime.now(UTC))

    def product(self, sku: str) -> Product | None:
        """The catalog product with this SKU (the catalog as last reloaded)."""
        return self.recommender.by_sku.get(sku)

    def observe(self, visitor: Visitor, path: str, decision: Decision) -> bool:
        """Queue what this page taught (see the module docstring); False when nothing was
        queued (not allowed, or the queue is full: best-effort, counted in `queue.dropped`)."""
        if visitor.subject is None or not self.allowed(visitor):
            return False
        now = datetime.now(UTC)
        country = visitor.place.country if visitor.place is not None else None
        page_type, captures = self.pages.match(path.partition("?")[0])
        view: ShopEvent | None = None
        if page_type == "product" and "sku" in captures:
            product = self.product(captures["sku"])
            # Only SKUs the catalog knows: a made-up URL must not plant rows or counts.
            if product is not None:
                view = ShopEvent("view", now, product.sku, product.category or None, country)
        elif page_type == "category" and "category" in captures:
            category = captures["category"]
            if any(p.category == category for p in self.recommender.products):
                view = ShopEvent("view", now, None, category, country)
        observation = Observation.of(
            visitor.subject.id, now, decision.slots.values(), view, seen=True, country=country
        )
        return self.queue.put(observation)

    def shown(self, visitor: Visitor, decisions: Sequence[SlotDecision]) -> bool:
        """Queue impressions of capped rules the page really showed (called once the page has
        streamed, so a slot the page does not carry counts nothing); False when not allowed
        (no subject or no purpose: no counter, hence no cap) or the queue is full."""
        if visitor.subject is None or not self.allowed(visitor):
            return False
        observation = Observation.shown(visitor.subject.id, datetime.now(UTC), decisions)
        return bool(observation.impressions) and self.queue.put(observation)

    def metrics(self) -> dict[str, float]:
        """Counters for the Prometheus endpoint (names without the `consentgate_` prefix)."""
        return {
            "profile_events_accepted_total": self.queue.accepted,
            "profile_events_dropped_total": self.queue.dropped,
            "profile_events_written_total": self.queue.written,
            "profile_events_failed_total": self.queue.failed,
            "profile_events_pending": self.queue.pending,
            "aggregate_refreshes_total": self.cache.refreshes,
        }
