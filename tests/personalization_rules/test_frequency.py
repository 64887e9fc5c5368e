"""Frequency caps: counting periods, and the per subject+rule counters in the profile store
(SQLite and PostgreSQL): one row each, reset by a new period, erased with the subject."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest

from personalization_rules.engine import SlotDecision
from personalization_rules.frequency import period_key
from personalization_rules.profile_store import Observation, ProfileStore, cg_impressions
from personalization_rules.rules import Banner
from personalization_rules.templates import BannerTemplate
from tests.personalization_rules.subjects import store_with_subjects
from tests.personalization_rules.test_profile_store import rows

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # a Monday
BANNER = Banner(BannerTemplate("<p>hi</p>"), {})
CAPS = {"daily": "day", "weekly": "week"}


@pytest.mark.parametrize(
    ("per", "when", "key"),
    [
        ("day", NOW, "2026-11-23"),
        (
            "day",
            datetime(2026, 11, 23, 23, 30, tzinfo=timezone(timedelta(hours=-5))),
            "2026-11-24",
        ),  # periods are UTC
        ("week", NOW, "2026-W48"),
        ("week", datetime(2027, 1, 1, tzinfo=UTC), "2026-W53"),  # ISO week-numbering year
        ("month", NOW, "2026-11"),
        ("ever", NOW, "ever"),
    ],
)
def test_period_key(per: str, when: datetime, key: str) -> None:
    assert period_key(per, when) == key


def test_period_key_rejects_unknown() -> None:
    with pytest.raises(ValueError):
        period_key("hour", NOW)


def shown(rule: str, per: str | None) -> SlotDecision:
    return SlotDecision("hero", rule, BANNER, frozenset(), capped=per)


def test_observation_counts_only_capped_winners() -> None:
    obs = Observation.shown("s", NOW, [shown("daily", "day"), shown("plain", None)])
    assert obs.impressions == (("daily", "2026-11-23"),)
    # Deciding is not showing: the per-request observation counts no impression.
    assert Observation.of("s", NOW, [shown("daily", "day")]).impressions == ()


def test_counters_per_subject_rule_and_period(store_url: str) -> None:
    async def main() -> None:
        store, _, (subject, other) = await store_with_subjects(store_url, 2)
        try:
            profiles = ProfileStore(store)
            assert await profiles.impressions(subject, CAPS, NOW) == {}
            winners = [shown("daily", "day"), shown("weekly", "week")]
            # Two in one batch, one in another: they add up in one row per rule.
            await profiles.apply([Observation.shown(subject, NOW, winners)] * 2)
            await profiles.apply([Observation.shown(subject, NOW, winners[:1])])
            assert await profiles.impressions(subject, CAPS, NOW) == {"daily": 3, "weekly": 2}
            assert await profiles.impressions(other, CAPS, NOW) == {}
            assert await rows(store, cg_impressions, subject) == 2  # not a row per request

            # The next day: the daily count is from a past period, the weekly one still counts.
            tomorrow = NOW + timedelta(days=1)
            assert await profiles.impressions(subject, CAPS, tomorrow) == {"weekly": 2}
            await profiles.apply([Observation.shown(subject, tomorrow, winners[:1])])
            assert await profiles.impressions(subject, CAPS, tomorrow) == {"daily": 1, "weekly": 2}
            assert await rows(store, cg_impressions, subject) == 2
            # Only the rules asked about (a cap removed from the rules no longer counts).
            assert await profiles.impressions(subject, {"weekly": "week"}, tomorrow) == {
                "weekly": 2
            }

            await profiles.apply([Observation.shown(other, NOW, winners[:1])])
            await profiles.record_view(subject, "RW-1", "rainwear", "GB", tomorrow)
            exported = await profiles.export_subject(subject)  # the data-subject bundle
            assert exported["profile"]["frequency"] == {
                "daily": {"period": "2026-11-24", "count": 1},
                "weekly": {"period": "2026-W48", "count": 2},
            }
            await profiles.delete_subject(subject)
            assert await rows(store, cg_impressions, subject) == 0
            assert await rows(store, cg_impressions, other) == 1
        finally:
            await store.close()

    asyncio.run(main())


def test_counters_leave_with_the_behaviour_purpose(store_url: str) -> None:
    async def main() -> None:
        store, _, (subject,) = await store_with_subjects(store_url, 1)
        try:
            profiles = ProfileStore(store)
            await profiles.apply([Observation.shown(subject, NOW, [shown("daily", "day")])])
            assert await rows(store, cg_impressions, subject) == 1
            await profiles.delete_behaviour(subject)
            assert await rows(store, cg_impressions, subject) == 0
        finally:
            await store.close()

    asyncio.run(main())
