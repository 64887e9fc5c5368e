"""Tests for audit/verify.py: one mutation per kind of tampering, naming the first bad entry."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from audit_testlog import CHAIN, ORIGIN, SIGNER, VERIFIER, TestLog, sample_log

from audit.checkpoint import Checkpoint, NoteSigner, sign_checkpoint
from audit.envelope import Entry
from audit.merkle import Tree
from audit.subject_crypto import DataUnreadable, SealedData, open_sealed
from audit.verify import Kind, Problem, Report, verify_log

Records = list[dict[str, Any]]


def _verify(records: Records, checkpoints: list[str], **kw: Any) -> Report:
    return verify_log(records, checkpoints, [VERIFIER], origin=ORIGIN, **kw)


def _rehash(record: dict[str, Any]) -> dict[str, Any]:
    """What a careful attacker does: recompute the entry's own hash after editing it."""
    fields = {k: v for k, v in record.items() if k not in ("hash", "data")}
    data = None if record["data"] is None else SealedData.from_json(record["data"])
    return Entry(**fields, data=data).to_record()


def _relink(records: Records, start: int) -> Records:
    """Re-hash records[start:] and fix every prev_hash: a chain rewritten from `start` on."""
    out = [dict(r) for r in records]
    for i in range(start, len(out)):
        if i:
            out[i]["prev_hash"] = out[i - 1]["hash"]
        out[i] = _rehash(out[i])
    return out


@pytest.fixture
def log() -> TestLog:
    return sample_log(12, checkpoint_every=4)


def test_intact_log_verifies(log: TestLog) -> None:
    report = _verify(log.records(), log.checkpoints)
    assert report.ok and report.problem is None
    assert (report.entries, report.checkpoints) == (12, 3)
    assert report.latest is not None and report.latest.size == 12
    assert _verify(log.records(), log.checkpoints, remembered=log.checkpoints[:2]).ok


def test_empty_log_verifies() -> None:
    assert _verify([], []).ok
    empty_cp = TestLog().checkpoint()
    assert _verify([], [empty_cp]).ok


def test_unsigned_tail_is_fine(log: TestLog) -> None:
    log.append("admin.login")
    assert _verify(log.records(), log.checkpoints).ok


def test_erasure_keeps_chain_valid_and_data_unreadable(log: TestLog) -> None:
    subject = next(e.subject for e in log.entries if e.data is not None)
    assert subject is not None
    sealed = [e for e in log.entries if e.subject == subject and e.data is not None]
    assert sealed
    log.erase(subject)
    assert _verify(log.records(), log.checkpoints).ok
    assert log.entries[-1].action == "dsr.delete" and log.entries[-1].data is None
    for entry in sealed:
        assert entry.data is not None
        for key in log.keys.values():  # no key left in the world opens it
            with pytest.raises(DataUnreadable):
                open_sealed(key, entry.data, chain=CHAIN, seq=entry.seq, subject=subject)


def _problem(records: Records, checkpoints: list[str], **kw: Any) -> Problem:
    report = _verify(records, checkpoints, **kw)
    assert not report.ok and report.problem is not None
    return report.problem


# --- one mutation per kind --------------------------------------------------------------


def test_changed_entry(log: TestLog) -> None:
    records = log.records()
    records[5]["actor"] = "admin:mallory"
    p = _problem(records, log.checkpoints)
    assert (p.kind, p.seq) == (Kind.CHANGED, 5)


def test_changed_entry_with_recomputed_hash(log: TestLog) -> None:
    """The successor still remembers the original hash, so the edited entry is named."""
    records = log.records()
    records[5]["actor"] = "admin:mallory"
    records[5] = _rehash(records[5])
    p = _problem(records, log.checkpoints)
    assert (p.kind, p.seq) == (Kind.CHANGED, 5)


def test_changed_and_whole_tail_relinked(log: TestLog) -> None:
    """Only the signed root catches a fully rewritten tail; seq names where trust ends."""
    records = log.records()
    records[5]["actor"] = "admin:mallory"
    p = _problem(_relink(records, 5), log.checkpoints)
    assert (p.kind, p.seq, p.checkpoint) == (Kind.CHANGED, 4, 1)


def test_changed_last_entry_under_checkpoint(log: TestLog) -> None:
    records = log.records()
    records[11]["actor"] = "admin:mallory"
    p = _problem([*records[:11], _rehash(records[11])], log.checkpoints)
    assert (p.kind, p.seq, p.checkpoint) == (Kind.CHANGED, 8, 2)


@pytest.mark.parametrize("index", [0, 5, 10])
def test_deleted_entry(log: TestLog, index: int) -> None:
    records = log.records()
    del records[index]
    p = _problem(records, log.checkpoints)
    assert (p.kind, p.seq) == (Kind.DELETED, index)


def test_inserted_copy(log: TestLog) -> None:
    records = log.records()
    records.insert(6, dict(records[5]))
    p = _problem(records, log.checkpoints)
    assert (p.kind, p.seq) == (Kind.INSERTED, 5)


def test_inserted_forgery_with_valid_link(log: TestLog) -> None:
    """A well-formed entry claiming seq 5, linked to seq 4, pushed in before the real one."""
    records = log.records()
    fake = _rehash({**records[5], "actor": "admin:mallory"})
    records.insert(5, fake)
    p = _problem(records, log.checkpoints)
    assert (p.kind, p.seq) == (Kind.INSERTED, 5)


def test_inserted_entry_with_new_seq(log: TestLog) -> None:
    records = log.records()
    fake = _rehash({**records[5], "seq": 99, "prev_hash": hashlib.sha256(b"x").hexdigest()})
    records.insert(5, fake)
    p = _problem(records, log.checkpoints)
    assert (p.kind, p.seq) == (Kind.INSERTED, 99)


def test_inserted_copy_far_away(log: TestLog) -> None:
    records = log.records()
    records.insert(9, dict(records[2]))
    p = _problem(records, log.checkpoints)
    assert (p.kind, p.seq) == (Kind.INSERTED, 2)


@pytest.mark.parametrize(("a", "b"), [(4, 5), (10, 11), (2, 7), (0, 1)])
def test_reordered_entries(log: TestLog, a: int, b: int) -> None:
    records = log.records()
    records[a], records[b] = records[b], records[a]
    p = _problem(records, log.checkpoints)
    assert (p.kind, p.seq) == (Kind.REORDERED, a)


def test_truncated_tail(log: TestLog) -> None:
    p = _problem(log.records()[:10], log.checkpoints)
    assert (p.kind, p.seq, p.checkpoint) == (Kind.TRUNCATED, 10, 2)


def test_rolled_back_store(log: TestLog) -> None:
    """An old backup restored: consistent in itself, older than what a sink saw."""
    old_records, old_checkpoints = log.records()[:8], log.checkpoints[:2]
    assert _verify(old_records, old_checkpoints).ok
    p = _problem(old_records, old_checkpoints, remembered=[log.checkpoints[-1]])
    assert (p.kind, p.seq, p.remembered) == (Kind.ROLLED_BACK, 8, True)


def test_rolled_back_checkpoints_only(log: TestLog) -> None:
    p = _problem(log.records(), log.checkpoints[:2], remembered=[log.checkpoints[-1]])
    assert p.kind == Kind.ROLLED_BACK


def test_forked_store_against_remembered_checkpoint(log: TestLog) -> None:
    """Rolled back to 8 entries and then appended anew: the remembered size-12 root differs."""
    fork = TestLog(seed=0)
    fork.entries = list(log.entries[:8])
    fork.tree = Tree([e.leaf_hash() for e in log.entries[:8]])
    fork.checkpoints = log.checkpoints[:2]
    for _ in range(4):
        fork.append("admin.login")
    fork.checkpoint()
    assert _verify(fork.records(), fork.checkpoints).ok
    p = _problem(fork.records(), fork.checkpoints, remembered=log.checkpoints[1:])
    assert (p.kind, p.remembered, p.seq, p.checkpoint) == (Kind.INCONSISTENT, True, 8, 1)


def test_checkpoint_by_unknown_key(log: TestLog) -> None:
    stranger = NoteSigner(ORIGIN, bytes(32))
    forged = sign_checkpoint(Checkpoint(ORIGIN, 12, log.tree.root()), stranger)
    p = _problem(log.records(), [*log.checkpoints[:2], forged])
    assert (p.kind, p.checkpoint) == (Kind.UNKNOWN_KEY, 2)
    p = _problem(log.records(), log.checkpoints, remembered=[forged])
    assert (p.kind, p.checkpoint, p.remembered) == (Kind.UNKNOWN_KEY, 0, True)


def test_checkpoint_with_bad_signature(log: TestLog) -> None:
    tampered = log.checkpoints[1].replace("\n8\n", "\n9\n", 1)
    p = _problem(log.records(), [log.checkpoints[0], tampered, log.checkpoints[2]])
    assert (p.kind, p.checkpoint) == (Kind.BAD_SIGNATURE, 1)


def test_checkpoint_of_another_origin(log: TestLog) -> None:
    other = sign_checkpoint(Checkpoint("elsewhere.example/log", 4, log.tree.root(4)), SIGNER)
    p = _problem(log.records(), [other])
    assert (p.kind, p.checkpoint) == (Kind.MALFORMED, 0)


def test_checkpoints_that_shrink_or_fork(log: TestLog) -> None:
    first, second, third = log.checkpoints
    p = _problem(log.records(), [first, third, second])
    assert (p.kind, p.checkpoint) == (Kind.INCONSISTENT, 2)
    fork = sign_checkpoint(Checkpoint(ORIGIN, 8, hashlib.sha256(b"fork").digest()), SIGNER)
    p = _problem(log.records(), [first, second, fork, third])
    assert (p.kind, p.checkpoint) == (Kind.INCONSISTENT, 2)


def test_entry_of_another_chain(log: TestLog) -> None:
    records = log.records()
    records[3] = _rehash({**records[3], "chain": "other"})
    p = _problem(records, log.checkpoints)
    assert (p.kind, p.seq) == (Kind.CHANGED, 3)
    p = _problem(log.records(), log.checkpoints, chain="other")
    assert (p.kind, p.seq) == (Kind.CHANGED, 0)


def test_unreadable_record(log: TestLog) -> None:
    records = log.records()
    records[4] = {"garbage": True}
    p = _problem(records, log.checkpoints)
    assert (p.kind, p.seq) == (Kind.CHANGED, 4)
    mixed: list[Any] = [*records[:4], ["not", "an", "object"], *records[5:]]
    p = _problem(mixed, log.checkpoints)
    assert (p.kind, p.seq) == (Kind.CHANGED, 4)


def test_problem_text_names_the_entry(log: TestLog) -> None:
    records = log.records()
    del records[6]
    p = _problem(records, log.checkpoints)
    assert str(p).startswith("entry seq 6: deleted:")
    tampered = log.checkpoints[1].replace("\n8\n", "\n9\n", 1)
    p = _problem(log.records(), [tampered])
    assert str(p).startswith("checkpoint #0: bad_signature:")
