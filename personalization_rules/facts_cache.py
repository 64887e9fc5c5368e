"""The in-process memory of subjects' profile facts, owned by one `ProfileStore`.

A page's personalization reads the visitor's `ProfileFacts`; the cache answers from memory for
`ttl` seconds. Writes through the owning store keep it exact for this process: each subject has
a write epoch, bumped when a write of it begins. A read remembers what it saw only if the
subject's epoch did not move while it read (a write that began meanwhile may have committed
newer facts); a write that commits remembers the facts it saved, unless a later write of the
subject began meanwhile, in which case the subject is forgotten and read afresh. Another
process's or node's writes show within `ttl`.

Why not a change counter in the store, as `consent.cache` keeps: profiles change on every
tracked page view, so one store-wide counter would move on every view and no entry would live
long enough to be hit; a counter per subject costs the same read as the facts themselves.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from personalization_rules.profile import ProfileFacts

#: How long a subject's facts are remembered (another node's writes show within it).
FACTS_TTL_S = 2.0
#: Subjects remembered (a few hundred bytes each).
FACTS_CACHE = 65_536

Epoch = tuple[int, int]  # (times the epochs were reset, the subject's epoch)


@dataclass(frozen=True)
class Remembered:
    """Facts as last read or written (None: nothing recorded), valid until `expires`."""

    facts: ProfileFacts | None
    expires: float


class FactsCache:
    """Subject id -> `Remembered`, kept exact against the owner's writes (module docstring)."""

    def __init__(
        self,
        ttl: float = FACTS_TTL_S,
        size: int = FACTS_CACHE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self._size = size
        self._clock = clock
        self._entries: OrderedDict[str, Remembered] = OrderedDict()
        self._epochs: dict[str, int] = {}
        self._resets = 0  # a reset renumbers every subject: no old epoch matches a new one

    def get(self, subject_id: str) -> Remembered | None:
        """What is remembered for the subject, unless it expired."""
        hit = self._entries.get(subject_id)
        if hit is None or hit.expires <= self._clock():
            return None
        self._entries.move_to_end(subject_id)
        return hit

    def epoch(self, subject_id: str) -> Epoch:
        """The subject's write epoch now (read it before reading the facts)."""
        return self._resets, self._epochs.get(subject_id, 0)

    def read(self, subject_id: str, facts: ProfileFacts | None, before: Epoch) -> None:
        """Remember facts read under epoch `before`, if no write of the subject began since."""
        if self.epoch(subject_id) == before:
            self._remember(subject_id, facts)

    def begin_write(self, subject_ids: Iterable[str]) -> dict[str, Epoch]:
        """Bump the subjects' epochs; returns them, for `end_write`."""
        if len(self._epochs) > self._size:
            self._epochs.clear()
            self._resets += 1
        started = {}
        for subject_id in subject_ids:
            self._epochs[subject_id] = self._epochs.get(subject_id, 0) + 1
            started[subject_id] = self.epoch(subject_id)
        return started

    def end_write(
        self, started: Mapping[str, Epoch], saved: Mapping[str, ProfileFacts], committed: bool
    ) -> None:
        """After a write: remember what it saved, or forget the subjects it touched."""
        for subject_id, epoch in started.items():
            facts = saved.get(subject_id)
            if committed and facts is not None and self.epoch(subject_id) == epoch:
                self._remember(subject_id, facts)
            else:
                self._entries.pop(subject_id, None)

    def clear(self) -> None:
        """Forget every subject (the next reads go to the store)."""
        self._entries.clear()

    def _remember(self, subject_id: str, facts: ProfileFacts | None) -> None:
        self._entries[subject_id] = Remembered(facts, self._clock() + self.ttl)
        self._entries.move_to_end(subject_id)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
