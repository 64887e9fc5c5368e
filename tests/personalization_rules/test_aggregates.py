"""k-anonymous aggregates from stored events, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from personalization_rules.aggregates import AggregateCache, grouped, rank
from personalization_rules.profile import ShopEvent
from personalization_rules.profile_store import ProfileStore
from tests.personalization_rules.subjects import store_with_subjects

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
K = 3


def view(sku: str, country: str = "GB", days_ago: float = 0) -> ShopEvent:
    return ShopEvent("view", NOW - timedelta(days=days_ago), sku, "rain", country)


def buy(sku: str, order: str, days_ago: float = 0) -> ShopEvent:
    return ShopEvent("purchase", NOW - timedelta(days=days_ago), sku, "rain", "GB", 10.0, order)


def test_trending_needs_k_distinct_subjects(store_url: str) -> None:
    async def main() -> None:
        store, _, ids = await store_with_subjects(store_url, K + 1)
        try:
            profiles = ProfileStore(store)
            cache = AggregateCache(k=K, trending_days=7)
            # One subject viewing many times is still one subject.
            await profiles.record_events(ids[0], [view("RW-1")] * (K + 2))
            for subject in ids[1 : K - 1]:
                await profiles.record_view(subject, "RW-1", "rain", "GB", NOW)
            snapshot = await cache.refresh(store, NOW)
            assert snapshot.trending == {}  # k-1 distinct subjects: nothing shown
            await profiles.record_view(ids[K - 1], "RW-1", "rain", "GB", NOW)
            snapshot = await cache.refresh(store, NOW)
            assert snapshot.trending == {"GB": ("RW-1",)}  # the k-th subject contributed
            assert cache.snapshot is snapshot and cache.refreshes == 2
        finally:
            await store.close()

    asyncio.run(main())


def test_trending_is_per_country_and_windowed(store_url: str) -> None:
    async def main() -> None:
        store, _, ids = await store_with_subjects(store_url, K)
        try:
            profiles = ProfileStore(store)
            for subject in ids:
                await profiles.record_events(
                    subject,
                    [view("SE-1", "SE"), view("OLD", "GB", days_ago=8), view("GB-1", "GB")],
                )
            snapshot = await AggregateCache(k=K, trending_days=7).refresh(store, NOW)
            assert snapshot.trending == {"SE": ("SE-1",), "GB": ("GB-1",)}
        finally:
            await store.close()

    asyncio.run(main())


def test_bestsellers_and_bought_together(store_url: str) -> None:
    async def main() -> None:
        store, _, ids = await store_with_subjects(store_url, K + 1)
        try:
            profiles = ProfileStore(store)
            for i, subject in enumerate(ids[:K]):
                await profiles.record_events(
                    subject, [buy("JACKET", f"o{i}"), buy("BOOTS", f"o{i}")]
                )
            # Only one subject bought the umbrella with the jacket, many times.
            for j in range(5):
                await profiles.record_events(ids[K], [buy("UMBRELLA", f"u{j}")])
            await profiles.record_events(ids[K], [buy("JACKET", "u-j")])
            snapshot = await AggregateCache(k=K).refresh(store, NOW)
            assert snapshot.bestsellers == ("JACKET", "BOOTS")  # UMBRELLA: one subject only
            assert snapshot.together == {"JACKET": ("BOOTS",), "BOOTS": ("JACKET",)}
            # The trending list counts purchases too (views and purchases of the last 7 days).
            assert snapshot.trending["GB"] == ("JACKET", "BOOTS")
        finally:
            await store.close()

    asyncio.run(main())


def test_erased_subjects_leave_the_aggregates(store_url: str) -> None:
    async def main() -> None:
        store, _, ids = await store_with_subjects(store_url, K)
        try:
            profiles = ProfileStore(store)
            for subject in ids:
                await profiles.record_view(subject, "RW-1", "rain", "GB", NOW)
            cache = AggregateCache(k=K)
            assert (await cache.refresh(store, NOW)).trending == {"GB": ("RW-1",)}
            await profiles.delete_subject(ids[0])
            assert (await cache.refresh(store, NOW)).trending == {}
        finally:
            await store.close()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([], ()),
        ([("B", 5.0, 3), ("A", 5.0, 3), ("C", 9.0, 3)], ("C", "A", "B")),  # ties by SKU
        ([("A", 5.0, 3), ("B", 5.0, 4)], ("B", "A")),  # then by subjects
    ],
)
def test_rank(rows: list[tuple[str, float, int]], expected: tuple[str, ...]) -> None:
    assert rank(rows) == expected


def test_grouped() -> None:
    rows = [("GB", "A", 1.0, 3), ("SE", "B", 2.0, 3), ("GB", "C", 2.0, 3)]
    assert grouped(rows) == {"GB": ("C", "A"), "SE": ("B",)}
    assert rank([(str(i), float(i), 3) for i in range(10)], limit=2) == ("9", "8")


def test_k_must_be_positive() -> None:
    with pytest.raises(ValueError):
        AggregateCache(k=0)
