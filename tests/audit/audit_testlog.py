"""A pure, in-memory audit log for tests: appends, checkpoints, erasures."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from audit import merkle
from audit.checkpoint import Checkpoint, NoteSigner, sign_checkpoint
from audit.envelope import Entry, build_entry, next_position, tombstone
from audit.subject_crypto import (
    SubjectKey,
    new_subject_id,
    new_subject_key,
    seal,
)

ORIGIN = "shop.example/consentgate/audit"
CHAIN = "main"
SIGNER = NoteSigner(ORIGIN, bytes(range(32)))
VERIFIER = SIGNER.verifier()
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class TestLog:
    """Entries, signed checkpoints and per-subject keys, all derived from one seed."""

    __test__ = False  # not a pytest class

    def __init__(self, seed: int = 0, signer: NoteSigner = SIGNER) -> None:
        self.rng = random.Random(seed)
        self.signer = signer
        self.entries: list[Entry] = []
        self.checkpoints: list[str] = []
        self.keys: dict[str, SubjectKey] = {}
        self.erased: set[str] = set()
        self.tree = merkle.Tree()

    def now(self) -> datetime:
        return T0 + timedelta(seconds=len(self.entries))

    def new_subject(self) -> str:
        subject = new_subject_id(self.rng.randbytes(16))
        self.keys[subject] = new_subject_key(self.rng.randbytes(32))
        return subject

    def _add(self, entry: Entry) -> Entry:
        self.entries.append(entry)
        self.tree.append(entry.leaf_hash())
        return entry

    def append(
        self,
        action: str = "consent.given",
        subject: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> Entry:
        seq, prev = next_position(self.entries[-1] if self.entries else None)
        data = None
        if details is not None:
            assert subject is not None
            data = seal(
                self.keys[subject],
                details,
                chain=CHAIN,
                seq=seq,
                subject=subject,
                nonce=self.rng.randbytes(12),
            )
        entry = build_entry(
            chain=CHAIN,
            seq=seq,
            prev_hash=prev,
            now=self.now(),
            actor="system" if subject is None else "subject",
            action=action,
            subject=subject,
            data=data,
        )
        return self._add(entry)

    def checkpoint(self) -> str:
        cp = Checkpoint(ORIGIN, self.tree.size, self.tree.root())
        note = sign_checkpoint(cp, self.signer)
        self.checkpoints.append(note)
        return note

    def erase(self, subject: str) -> Entry:
        """Crypto-shred: destroy the key, append a tombstone, checkpoint right away."""
        del self.keys[subject]
        self.erased.add(subject)
        seq, prev = next_position(self.entries[-1])
        entry = self._add(
            tombstone(
                chain=CHAIN,
                seq=seq,
                prev_hash=prev,
                now=self.now(),
                actor="subject",
                subject=subject,
            )
        )
        self.checkpoint()
        return entry

    def records(self) -> list[dict[str, object]]:
        return [e.to_record() for e in self.entries]


def sample_log(n: int = 12, checkpoint_every: int = 4, seed: int = 0) -> TestLog:
    """A log of n entries, some with sealed details, checkpointed every few entries."""
    log = TestLog(seed)
    subjects = [log.new_subject() for _ in range(3)]
    for i in range(n):
        if i % 3 == 0:
            log.append("config.loaded")
        else:
            subject = subjects[i % len(subjects)]
            log.append("consent.given", subject, {"purposes": {"analytics": i % 2 == 0}})
        if (i + 1) % checkpoint_every == 0:
            log.checkpoint()
    return log
