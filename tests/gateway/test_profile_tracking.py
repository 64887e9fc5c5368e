"""Profile tracking on the request path: what is read and queued, under which consent, and
the background refresh, on a real SQLite store."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path

from consent.pseudonyms import new_visitor_id
from consent.state import action_choices, choice_record, resolve
from consent.store import ConsentStore, Subject
from gateway.demo.world import DemoPaths, demo_config
from gateway.http.forwarded import View
from gateway.personalization.profile_tracking import ProfileTracking
from gateway.proxy.visitor import Visitor
from personalization_rules.engine import Decision, SlotDecision
from personalization_rules.geo import GeoPlace
from personalization_rules.rules import Banner
from personalization_rules.templates import BannerTemplate
from policies.models import Config
from storage.store import open_store

SE = GeoPlace("EU", "SE", None, "Linköping", 58.41, 15.62, "Europe/Stockholm")
NOTHING = Decision({})


def config(**personalization: object) -> Config:
    data = demo_config(DemoPaths(Path("/nonexistent")), 1, 2)
    data["personalization"].update(personalization)
    return Config.model_validate(data)


def visitor(cfg: Config, subject: Subject | None, action: str | None) -> Visitor:
    now = datetime.now(UTC)
    record = None
    if action is not None:
        choices = action_choices(cfg, "gdpr", action)  # type: ignore[arg-type]
        record = choice_record(
            cfg,
            "gdpr",
            None,
            choices,
            method="banner",
            shown_text_hash="0" * 64,
            language="en",
            gpc=False,
            now=now,
        )
    state = resolve(cfg, "gdpr", record, False, now, subject.ref if subject else None)
    view = View("89.160.20.112", "http", "shop.example")
    return Visitor(view, SE, "gdpr", "en", False, None, subject, record, state)


def test_observe_and_profile_under_consent(tmp_path: Path) -> None:
    async def main() -> None:
        cfg = config(k_anonymity=2, aggregates_refresh_seconds=0.05)
        tracking = ProfileTracking(cfg)
        store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
        try:
            consent = await ConsentStore.open(store, os.urandom(32))
            now = datetime.now(UTC)
            granted_subject = await consent.create_subject(new_visitor_id(os.urandom), now)
            refused_subject = await consent.create_subject(new_visitor_id(os.urandom), now)
            granted = visitor(cfg, granted_subject, "accept_all")
            refused = visitor(cfg, refused_subject, "reject_all")
            anonymous = visitor(cfg, None, None)
            # Before start: no store, so nothing to read (fails open: no profile).
            assert await tracking.profile(granted) is None
            await tracking.start(store)

            banner = Banner(BannerTemplate("<p>x</p>"), {})
            won = Decision(
                {
                    "hero-banner": SlotDecision(
                        "hero-banner",
                        "hero-new",
                        banner,
                        frozenset({"personalization"}),
                        "welcome-copy",
                        "control",
                        sticky=True,
                    ),
                    "recommendations": SlotDecision("recommendations", "rain", banner, frozenset()),
                }
            )
            for path in (
                "/product/RW-001",
                "/product/RW-002?x=1",
                "/category/rainwear",
                "/product/NOPE",
                "/",
            ):
                assert tracking.observe(granted, path, won)
            assert not tracking.observe(refused, "/product/RW-001", won)
            assert not tracking.observe(anonymous, "/product/RW-001", won)
            await tracking.queue.drain()

            profile = await tracking.profile(granted)
            assert profile is not None and profile.type == "engaged"  # 3 rainwear views
            assert profile.viewed_skus == ("RW-002", "RW-001")  # the unknown SKU: not kept
            assert await tracking.profile(refused) is None
            assert await tracking.profile(anonymous) is None
            assert tracking.store is not None
            exported = await tracking.store.export_subject(granted_subject.id)
            assert [d["rule"] for d in exported["decisions"]] == ["hero-new"]
            assert exported["decisions"][0]["count"] == 5
            assert exported["profile"]["experiments"] == {"welcome-copy": "control"}
            assert {e["country"] for e in exported["events"]} == {"SE"}
            assert (await tracking.store.export_subject(refused_subject.id))["profile"] is None

            # The background loop refreshes the aggregates (k=2: one subject shows nothing).
            deadline = asyncio.get_running_loop().time() + 10
            while tracking.cache.refreshes < 2:
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.02)
            assert tracking.cache.snapshot.trending == {}
            metrics = tracking.metrics()
            assert metrics["profile_events_written_total"] == 5
            assert metrics["profile_events_dropped_total"] == 0
        finally:
            await tracking.stop()
            await store.close()

    asyncio.run(main())


def test_purchases_tracked_follows_the_events_token() -> None:
    assert ProfileTracking(config()).thresholds.purchases_tracked is False
    tracked = ProfileTracking(config(events_token="x" * 20))
    assert tracked.thresholds.purchases_tracked is True
