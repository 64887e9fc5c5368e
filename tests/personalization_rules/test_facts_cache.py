"""`personalization_rules.facts_cache`: remembered facts never outlive a write of the owner."""

from __future__ import annotations

from personalization_rules.facts_cache import FactsCache
from personalization_rules.profile import ProfileFacts

GB, FR = ProfileFacts(country="GB"), ProfileFacts(country="FR")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_read_is_remembered_for_the_ttl() -> None:
    clock = Clock()
    cache = FactsCache(ttl=2.0, clock=clock)
    cache.read("s", GB, cache.epoch("s"))
    hit = cache.get("s")
    assert hit is not None and hit.facts == GB
    clock.now += 2.0
    assert cache.get("s") is None


def test_nothing_recorded_is_remembered_as_none() -> None:
    cache = FactsCache()
    cache.read("s", None, cache.epoch("s"))
    hit = cache.get("s")
    assert hit is not None and hit.facts is None


def test_a_read_overlapping_a_write_remembers_nothing() -> None:
    cache = FactsCache()
    before = cache.epoch("s")
    started = cache.begin_write(["s"])
    cache.read("s", GB, before)  # read the old row while the write ran
    assert cache.get("s") is None
    cache.end_write(started, {"s": FR}, committed=True)
    hit = cache.get("s")
    assert hit is not None and hit.facts == FR


def test_a_failed_or_overtaken_write_forgets_the_subject() -> None:
    cache = FactsCache()
    cache.read("s", GB, cache.epoch("s"))
    cache.end_write(cache.begin_write(["s"]), {"s": FR}, committed=False)
    assert cache.get("s") is None
    first = cache.begin_write(["s"])
    second = cache.begin_write(["s"])
    cache.end_write(first, {"s": GB}, committed=True)  # a newer write began: not its facts
    assert cache.get("s") is None
    cache.end_write(second, {"s": FR}, committed=True)
    hit = cache.get("s")
    assert hit is not None and hit.facts == FR


def test_a_write_that_saved_nothing_for_a_subject_forgets_it() -> None:
    cache = FactsCache()
    cache.read("s", GB, cache.epoch("s"))
    cache.end_write(cache.begin_write(["s"]), {}, committed=True)  # e.g. an erasure
    assert cache.get("s") is None


def test_size_is_bounded_and_epochs_reset_without_matching_old_ones() -> None:
    cache = FactsCache(size=2)
    for subject in ("a", "b", "c"):
        cache.read(subject, GB, cache.epoch(subject))
    assert cache.get("a") is None and cache.get("c") is not None
    before = cache.epoch("x")
    cache.begin_write(["p", "q", "r"])
    cache.begin_write(["x"])  # more than `size` epochs: all renumbered
    cache.read("x", GB, before)
    assert cache.get("x") is None
