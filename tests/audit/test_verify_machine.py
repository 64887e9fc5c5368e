"""Stateful property test for audit/verify.py: append, checkpoint, erase and tamper.

The model log only ever grows honestly; each tamper rule mutates a *copy* of what the
store holds and asserts that ``verify_log`` reports the right kind and first bad entry
(or, for the one undetectable case — dropping entries no checkpoint covers yet — that it
cannot). ``HYPOTHESIS_PROFILE=deep`` runs many more examples.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import Any

from audit_testlog import CHAIN, ORIGIN, VERIFIER, TestLog
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from audit.checkpoint import Checkpoint, NoteSigner, parse_checkpoint_body, sign_checkpoint
from audit.envelope import Entry
from audit.subject_crypto import DataUnreadable, SealedData, open_sealed
from audit.verify import Kind, Problem, verify_log

DEEP = os.environ.get("HYPOTHESIS_PROFILE") == "deep"
STRANGER = NoteSigner(ORIGIN, b"\x07" * 32)


def _rehash(record: dict[str, Any]) -> dict[str, Any]:
    fields = {k: v for k, v in record.items() if k not in ("hash", "data")}
    data = None if record["data"] is None else SealedData.from_json(record["data"])
    return Entry(**fields, data=data).to_record()


class AuditLogMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.log = TestLog(seed=1)

    # --- helpers ---------------------------------------------------------------------

    def problem(
        self, records: list[dict[str, Any]], checkpoints: list[str], remembered: Sequence[str] = ()
    ) -> Problem | None:
        return verify_log(
            records, checkpoints, [VERIFIER], origin=ORIGIN, remembered=remembered
        ).problem

    def signed_size(self) -> int:
        if not self.log.checkpoints:
            return 0
        return parse_checkpoint_body(self.log.checkpoints[-1].split("\n\n")[0] + "\n").size

    @property
    def n(self) -> int:
        return len(self.log.entries)

    # --- honest operations -----------------------------------------------------------

    @rule(who=st.sampled_from(["system", "new", "existing"]), with_data=st.booleans())
    def append(self, who: str, with_data: bool) -> None:
        if who == "system" or (who == "existing" and not self.log.keys):
            self.log.append("config.loaded")
            return
        subject = self.log.new_subject() if who == "new" else sorted(self.log.keys)[0]
        details = {"email": f"{subject}@example.com"} if with_data else None
        self.log.append("consent.given", subject, details)

    @rule()
    def checkpoint(self) -> None:
        self.log.checkpoint()

    @precondition(lambda self: bool(self.log.keys))
    @rule(data=st.data())
    def erase(self, data: st.DataObject) -> None:
        self.log.erase(data.draw(st.sampled_from(sorted(self.log.keys))))

    # --- tampering, on copies --------------------------------------------------------

    @precondition(lambda self: self.n > 0)
    @rule(data=st.data(), rehash=st.booleans())
    def change(self, data: st.DataObject, rehash: bool) -> None:
        i = data.draw(st.integers(0, self.n - 1))
        records = self.log.records()
        records[i] = {**records[i], "actor": "admin:mallory"}
        if rehash:
            records[i] = _rehash(records[i])
        p = self.problem(records, self.log.checkpoints)
        if not rehash or i < self.n - 1:
            assert p is not None and (p.kind, p.seq) == (Kind.CHANGED, i), p
        elif i < self.signed_size():
            assert p is not None and p.kind == Kind.CHANGED and p.seq is not None, p
            assert p.seq <= i
        else:
            assert p is None  # a re-hashed, unsigned last entry is indistinguishable

    @precondition(lambda self: self.n > 0)
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        i = data.draw(st.integers(0, self.n - 1))
        records = self.log.records()
        del records[i]
        p = self.problem(records, self.log.checkpoints)
        if i < self.n - 1:
            assert p is not None and (p.kind, p.seq) == (Kind.DELETED, i), p
        elif i < self.signed_size():
            assert p is not None and (p.kind, p.seq) == (Kind.TRUNCATED, i), p
        else:
            assert p is None

    @precondition(lambda self: self.n > 0)
    @rule(data=st.data())
    def insert_copy(self, data: st.DataObject) -> None:
        j = data.draw(st.integers(0, self.n - 1), label="copy of")
        i = data.draw(st.integers(0, self.n), label="at position")
        records = self.log.records()
        records.insert(i, dict(records[j]))
        p = self.problem(records, self.log.checkpoints)
        assert p is not None and (p.kind, p.seq) == (Kind.INSERTED, j), p

    @precondition(lambda self: self.n > 0)
    @rule(data=st.data())
    def insert_forgery(self, data: st.DataObject) -> None:
        i = data.draw(st.integers(0, self.n - 1))
        records = self.log.records()
        fake = _rehash(
            {**records[i], "seq": 10**6, "prev_hash": hashlib.sha256(b"fake").hexdigest()}
        )
        records.insert(i, fake)
        p = self.problem(records, self.log.checkpoints)
        assert p is not None and (p.kind, p.seq) == (Kind.INSERTED, 10**6), p

    @precondition(lambda self: self.n > 1)
    @rule(data=st.data())
    def swap(self, data: st.DataObject) -> None:
        i = data.draw(st.integers(0, self.n - 2))
        k = data.draw(st.integers(i + 1, self.n - 1))
        records = self.log.records()
        records[i], records[k] = records[k], records[i]
        p = self.problem(records, self.log.checkpoints)
        assert p is not None and (p.kind, p.seq) == (Kind.REORDERED, i), p

    @precondition(lambda self: self.signed_size() > 0)
    @rule(data=st.data())
    def truncate(self, data: st.DataObject) -> None:
        m = data.draw(st.integers(0, self.signed_size() - 1))
        p = self.problem(self.log.records()[:m], self.log.checkpoints)
        assert p is not None and (p.kind, p.seq) == (Kind.TRUNCATED, m), p

    @precondition(lambda self: self.signed_size() > 0)
    @rule(data=st.data())
    def roll_back(self, data: st.DataObject) -> None:
        """Restore an older, self-consistent state; a remembered checkpoint exposes it."""
        m = data.draw(st.integers(0, self.signed_size() - 1))
        old = [
            c
            for c in self.log.checkpoints
            if parse_checkpoint_body(c.split("\n\n")[0] + "\n").size <= m
        ]
        records = self.log.records()[:m]
        assert self.problem(records, old) is None
        p = self.problem(records, old, remembered=[self.log.checkpoints[-1]])
        assert p is not None and p.kind == Kind.ROLLED_BACK and p.remembered, p

    @precondition(lambda self: bool(self.log.checkpoints))
    @rule(data=st.data())
    def forge_checkpoint(self, data: st.DataObject) -> None:
        j = data.draw(st.integers(0, len(self.log.checkpoints) - 1))
        checkpoints = list(self.log.checkpoints)
        body = parse_checkpoint_body(checkpoints[j].split("\n\n")[0] + "\n")
        checkpoints[j] = sign_checkpoint(Checkpoint(ORIGIN, body.size, body.root), STRANGER)
        p = self.problem(self.log.records(), checkpoints)
        assert p is not None and (p.kind, p.checkpoint) == (Kind.UNKNOWN_KEY, j), p
        tampered = list(self.log.checkpoints)
        tampered[j] = tampered[j].replace(f"\n{body.size}\n", f"\n{body.size + 1}\n", 1)
        p = self.problem(self.log.records(), tampered)
        assert p is not None and (p.kind, p.checkpoint) == (Kind.BAD_SIGNATURE, j), p

    # --- invariants ------------------------------------------------------------------

    @invariant()
    def honest_log_verifies(self) -> None:
        report = verify_log(self.log.records(), self.log.checkpoints, [VERIFIER], origin=ORIGIN)
        assert report.ok, report.problem

    @invariant()
    def only_live_subjects_are_readable(self) -> None:
        for entry in self.log.entries:
            if entry.data is None or entry.subject is None:
                continue
            key = self.log.keys.get(entry.subject)
            if key is not None:
                open_sealed(key, entry.data, chain=CHAIN, seq=entry.seq, subject=entry.subject)
                continue
            assert entry.subject in self.log.erased
            for other in self.log.keys.values():
                try:
                    open_sealed(
                        other, entry.data, chain=CHAIN, seq=entry.seq, subject=entry.subject
                    )
                except DataUnreadable:
                    continue
                raise AssertionError("an erased subject's details opened with another key")


AuditLogMachine.TestCase.settings = settings(
    max_examples=500 if DEEP else 30, stateful_step_count=25, deadline=None
)
TestAuditLogMachine = AuditLogMachine.TestCase
