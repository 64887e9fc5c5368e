"""The profile store on SQLite and PostgreSQL: profiles, events, decisions, exposures,
erasure, export and experiment counts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, select

from personalization_rules.engine import SlotDecision
from personalization_rules.facts_cache import FactsCache
from personalization_rules.profile import ShopEvent
from personalization_rules.profile_store import (
    Observation,
    ProfileStore,
    cg_decisions,
    cg_events,
    cg_exposures,
    cg_profiles,
)
from personalization_rules.rules import Banner
from personalization_rules.templates import BannerTemplate
from storage.store import Store, open_store
from tests.personalization_rules.subjects import store_with_subjects, with_subjects

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
BANNER = Banner(BannerTemplate("<p>hi</p>"), {})


def decision(
    rule: str,
    purposes: frozenset[str],
    experiment: str | None = None,
    variant: str | None = None,
    sticky: bool = False,
) -> SlotDecision:
    return SlotDecision("hero", rule, BANNER, purposes, experiment, variant, sticky)


async def rows(store: Store, table: Table, subject_id: str) -> int:
    async with store.engine.connect() as conn:
        count = await conn.scalar(
            select(func.count()).select_from(table).where(table.c.subject_id == subject_id)
        )
    return int(count or 0)


def test_views_make_a_profile(store_url: str) -> None:
    async def body(store: Store, ids: list[str]) -> None:
        profiles = ProfileStore(store)
        subject, other = ids
        assert (await profiles.profile(subject, NOW)).type == "new"
        assert await profiles.facts(subject) is None
        for sku in ("RW-1", "RW-2", "RW-3"):
            await profiles.record_view(subject, sku, "rainwear", "GB", NOW)
        profile = await profiles.profile(subject, NOW + timedelta(minutes=1))
        assert profile.type == "engaged"
        assert profile.engaged_categories == ("rainwear",)
        assert profile.viewed_skus == ("RW-3", "RW-2", "RW-1")
        assert (await profiles.profile(other, NOW)).type == "new"  # nothing leaks across
        facts = await profiles.facts(subject)
        assert facts is not None and facts.country == "GB" and facts.sessions == 1

    with_subjects(store_url, 2, body)


def test_decisions_are_one_row_per_subject_and_rule(store_url: str) -> None:
    async def body(store: Store, ids: list[str]) -> None:
        profiles = ProfileStore(store)
        (subject,) = ids
        personal = decision("hero-customer", frozenset({"personalization"}))
        contextual = decision("rain-picks", frozenset())
        for minutes in range(3):
            await profiles.record_decisions(
                subject, [personal, contextual], NOW + timedelta(minutes=minutes)
            )
        # Several in one batch, and a purpose added to the rule later: the union stays.
        other = decision("hero-customer", frozenset({"analytics"}))
        await profiles.apply(
            [
                Observation.of(subject, NOW + timedelta(minutes=9), [other]),
                Observation.of(subject, NOW + timedelta(minutes=5), [personal]),
            ]
        )
        assert await rows(store, cg_decisions, subject) == 1  # contextual: not kept
        exported = await profiles.export_subject(subject)
        assert exported["decisions"] == [
            {
                "rule": "hero-customer",
                "purposes": ["analytics", "personalization"],
                "first": NOW.isoformat(),
                "last": (NOW + timedelta(minutes=9)).isoformat(),
                "count": 5,
            }
        ]

    with_subjects(store_url, 1, body)


def test_exposures_keep_the_first(store_url: str) -> None:
    async def body(store: Store, ids: list[str]) -> None:
        profiles = ProfileStore(store)
        (subject,) = ids
        sticky = decision("hero-new", frozenset({"personalization"}), "welcome", "b", True)
        forced = decision("hero-new", frozenset({"personalization"}), "welcome", "c", False)
        await profiles.apply([Observation.of(subject, NOW, [forced])])
        assert await rows(store, cg_exposures, subject) == 0  # preview: never an exposure
        await profiles.apply([Observation.of(subject, NOW, [sticky])])
        await profiles.record_exposure("welcome", "b", subject, NOW + timedelta(hours=1))
        async with store.engine.connect() as conn:
            stored = (await conn.execute(select(cg_exposures))).all()
        assert [(r.experiment, r.variant) for r in stored] == [("welcome", "b")]
        assert stored[0].first_ts.replace(tzinfo=UTC) == NOW

    with_subjects(store_url, 1, body)


def test_purchases_are_idempotent_per_order(store_url: str) -> None:
    async def body(store: Store, ids: list[str]) -> None:
        profiles = ProfileStore(store)
        (subject,) = ids
        await profiles.record_view(subject, "RW-1", "rainwear", "SE", NOW)
        order = [
            ShopEvent("purchase", NOW, "RW-1", "rainwear", None, 99.0, "o-1", "EUR"),
            ShopEvent("purchase", NOW, "RW-2", "rainwear", None, 99.0, "o-1", "EUR"),
        ]
        assert await profiles.record_events(subject, order) == 2
        assert await profiles.record_events(subject, order) == 0  # a retried post
        assert await rows(store, cg_events, subject) == 3
        exported = await profiles.export_subject(subject)
        purchases = [e for e in exported["events"] if e["type"] == "purchase"]
        assert {e["country"] for e in purchases} == {"SE"}  # from the profile
        assert (await profiles.profile(subject, NOW)).type == "customer"

    with_subjects(store_url, 1, body)


def test_unknown_subjects_get_nothing(store_url: str) -> None:
    async def body(store: Store, ids: list[str]) -> None:
        profiles = ProfileStore(store)
        (subject,) = ids
        ghost = "sub_" + "0" * 32
        # An erased subject's queued observations are dropped, the rest are written.
        await profiles.apply(
            [
                Observation(ghost, NOW, ShopEvent("view", NOW, "RW-1")),
                Observation(subject, NOW, ShopEvent("view", NOW, "RW-1")),
            ]
        )
        assert await rows(store, cg_events, ghost) == 0
        assert await rows(store, cg_events, subject) == 1
        assert await profiles.record_event(ghost, ShopEvent("view", NOW, "X")) is False
        assert await profiles.set_customer(ghost, "1:ab", NOW) is False

    with_subjects(store_url, 1, body)


def test_delete_subject_erases_every_row(store_url: str) -> None:
    async def body(store: Store, ids: list[str]) -> None:
        profiles = ProfileStore(store)
        subject, other = ids
        for who in (subject, other):
            await profiles.record_view(who, "RW-1", "rainwear", "GB", NOW)
            await profiles.record_event(
                who, ShopEvent("purchase", NOW, "RW-1", None, None, 5.0, "o")
            )
            await profiles.record_decisions(
                who, [decision("r", frozenset({"p"}), "e", "v", True)], NOW
            )
            assert await profiles.set_customer(who, "1:feed", NOW)
        exported = await profiles.export_subject(subject)
        assert exported["profile"]["facts"]["customer"] == "1:feed"
        assert exported["profile"]["experiments"] == {"e": "v"}
        await profiles.delete_subject(subject)
        for table in (cg_profiles, cg_events, cg_decisions, cg_exposures):
            assert await rows(store, table, subject) == 0
            assert await rows(store, table, other) == 1 or table is cg_events
        assert await rows(store, cg_events, other) == 2
        assert await profiles.export_subject(subject) == {
            "profile": None,
            "decisions": [],
            "events": [],
        }

    with_subjects(store_url, 2, body)


def test_delete_behaviour_keeps_the_decision_log(store_url: str) -> None:
    async def body(store: Store, ids: list[str]) -> None:
        profiles = ProfileStore(store)
        (subject,) = ids
        await profiles.record_view(subject, "RW-1", "rainwear", "GB", NOW)
        await profiles.record_decisions(subject, [decision("r", frozenset({"p"}))], NOW)
        await profiles.delete_behaviour(subject)
        assert await rows(store, cg_events, subject) == 0
        assert await rows(store, cg_profiles, subject) == 0
        assert await rows(store, cg_decisions, subject) == 1

    with_subjects(store_url, 1, body)


def test_experiment_counts(store_url: str) -> None:
    async def body(store: Store, ids: list[str]) -> None:
        profiles = ProfileStore(store)
        arms = ["control", "control", "b", "b", "b"]
        for subject, arm in zip(ids, arms, strict=True):
            await profiles.record_exposure("welcome", arm, subject, NOW)

        def buy(sku: str, order: str, value: float | None, minutes: float) -> ShopEvent:
            ts = NOW + timedelta(minutes=minutes)
            return ShopEvent("purchase", ts, sku, None, None, value, order, "EUR")

        # Bought before the exposure: not a conversion.
        await profiles.record_events(ids[0], [buy("A", "o0", 10.0, -5)])
        # One order of two SKUs counts once, with its value once.
        await profiles.record_events(ids[1], [buy("A", "o1", 30.0, 1), buy("B", "o1", 30.0, 1)])
        await profiles.record_events(ids[2], [buy("A", "o2", 20.0, 1)])
        await profiles.record_events(ids[2], [buy("A", "o3", 40.0, 2)])
        await profiles.record_events(ids[3], [buy("A", "o4", None, 2)])  # no value
        counts = {c.variant: c for c in await profiles.experiment_counts()}
        control, b = counts["control"], counts["b"]
        assert (control.exposures, control.conversions, control.orders) == (2, 1, 1)
        assert control.revenue == 30.0 and control.valued_orders == 1
        assert (b.exposures, b.conversions, b.orders, b.valued_orders) == (3, 2, 3, 2)
        assert b.revenue == 60.0 and b.currencies == ("EUR",)

    with_subjects(store_url, 5, body)


def test_remembered_facts_give_way_to_this_processes_writes_at_once_and_others_in_the_ttl(
    store_url: str,
) -> None:
    async def main() -> None:
        store, _, (subject,) = await store_with_subjects(store_url, 1)
        other_node = await open_store(store_url)
        try:
            # One store: `facts` is read while other work writes through the same instance.
            reader = writer = ProfileStore(store, cache=FactsCache(ttl=0.5))
            assert await reader.facts(subject) is None  # remembered: nothing recorded
            await writer.record_view(subject, "RW-1", "rainwear", "GB", NOW)  # same process
            facts = await reader.facts(subject)
            assert facts is not None and facts.country == "GB"
            await ProfileStore(other_node).record_view(subject, "RW-2", "rainwear", "FR", NOW)
            still = await reader.facts(subject)
            assert still is not None and still.country == "GB"  # within the TTL: as it was
            await asyncio.sleep(0.6)
            fresh = await reader.facts(subject)
            assert fresh is not None and fresh.country == "FR"
            await writer.delete_behaviour(subject)
            assert await reader.facts(subject) is None
        finally:
            await other_node.close()
            await store.close()

    asyncio.run(main())


def test_a_write_leaves_what_it_saved_remembered_and_an_overlapping_read_remembers_nothing(
    store_url: str,
) -> None:
    async def main() -> None:
        store, _, (subject,) = await store_with_subjects(store_url, 1)
        other_node = await open_store(store_url)
        try:
            reader = writer = ProfileStore(store)
            await writer.record_view(subject, "RW-1", "rainwear", "GB", NOW)
            # Changed behind this process's back (another node): the reader still answers
            # with what this process wrote, so it did not go back to the store for it.
            await ProfileStore(other_node).record_view(subject, "RW-2", "rainwear", "FR", NOW)
            remembered = await reader.facts(subject)
            assert remembered is not None and remembered.country == "GB"
            # A read that began before a write of this process and ends after it (held open
            # here until the write committed) must not leave its older view remembered.
            reader.cache.clear()
            engine, release = store.engine, asyncio.Event()

            class Held:
                def __init__(self) -> None:
                    self.conn = engine.connect()

                async def __aenter__(self) -> Any:
                    return await self.conn.__aenter__()

                async def __aexit__(self, *exc: Any) -> None:
                    await release.wait()
                    await self.conn.__aexit__(*exc)

            class HeldEngine:
                def connect(self) -> Held:
                    return Held()

            store.engine = HeldEngine()  # type: ignore[assignment]
            slow_read = asyncio.create_task(reader.facts(subject))
            await asyncio.sleep(0.05)  # it has read the row and waits to close
            store.engine = engine
            await writer.record_view(subject, "RW-3", "rainwear", "SE", NOW)
            release.set()
            old = await slow_read
            assert old is not None and old.country != "SE"  # it read before the write
            after = await reader.facts(subject)
            assert after is not None and after.country == "SE"
        finally:
            await other_node.close()
            await store.close()

    asyncio.run(main())


def test_two_writers_of_one_new_profile_lose_nothing(store_url: str) -> None:
    """The gateway's batched page views and the events API write the same subject's profile
    from separate processes; each write reads the facts and saves them whole, so two writers
    of a profile that has no row yet must take turns or one overwrites the other's fact."""

    async def main() -> None:
        store, _, subjects = await store_with_subjects(store_url, 12)
        other = await open_store(store_url, migrate=False)
        try:
            pages, shop = ProfileStore(store), ProfileStore(other)
            now = datetime.now(UTC)
            view = ShopEvent("view", now, "SKU-1", "rainwear", "GB")
            for n, subject in enumerate(subjects):
                await asyncio.gather(
                    pages.apply([Observation(subject, now, view=view)]),
                    shop.set_customer(subject, f"cust-{n}", now),
                )
            for n, subject in enumerate(subjects):
                facts = await ProfileStore(store, cache=FactsCache()).facts(subject)
                assert facts is not None and facts.customer == f"cust-{n}", subject
        finally:
            await other.close()
            await store.close()

    asyncio.run(main())
