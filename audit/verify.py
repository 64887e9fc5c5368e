"""Offline verification of an audit log: entries, hash chain, Merkle roots, checkpoints.

Input is what a store or an export holds, read in seq order: the entry records
(``audit.envelope.Entry.to_record`` dicts), the signed checkpoints in the order they were
written, the trusted verifier keys, and optionally checkpoints remembered outside the store
(a witness file, a log sink, the last ``audit verify`` run) to catch a rolled-back store.

Checks, in order; the first failure is reported with the first bad entry's ``seq``:

1. every checkpoint (stored and remembered) carries a valid signature by a trusted key
   (``unknown_key`` / ``bad_signature`` / ``malformed``) and the stored ones never shrink
   or fork (``inconsistent``);
2. walking the entries: each parses, its ``hash`` matches its canonical bytes, its seq is
   the next one and its ``prev_hash`` is the previous entry's hash (``changed`` /
   ``deleted`` / ``inserted`` / ``reordered``), and the RFC 6962 root over the entries so
   far equals every checkpoint of that size (``changed`` for a stored checkpoint: the
   entries were rewritten with recomputed hashes; ``inconsistent`` for a remembered one).
   A root mismatch only bounds the bad entry to the range after the last matching
   checkpoint, so a chain finding inside that range (which names one entry) wins.
   Two checkpoints whose roots both equal the recomputed prefix roots are consistent by
   construction, so no separate consistency proof is needed here;
3. no stored checkpoint is larger than the entries (``truncated``) and no remembered one is
   larger than the entries or the newest stored checkpoint (``rolled_back``).

Everything is pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from audit import merkle
from audit.checkpoint import (
    BadSignature,
    Checkpoint,
    NoteError,
    NoteVerifier,
    UnknownKey,
    open_checkpoint,
)
from audit.envelope import Entry, EnvelopeError, from_record

Record = Mapping[str, object]


class Kind(StrEnum):
    """What went wrong."""

    CHANGED = "changed"
    DELETED = "deleted"
    INSERTED = "inserted"
    REORDERED = "reordered"
    TRUNCATED = "truncated"
    ROLLED_BACK = "rolled_back"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    MALFORMED = "malformed"
    INCONSISTENT = "inconsistent"


@dataclass(frozen=True)
class Problem:
    """The first thing found wrong.

    ``seq`` names the first bad entry where one can be named; ``checkpoint`` is the index
    of the offending checkpoint in the stored list, or in the remembered list when
    ``remembered`` is true.
    """

    kind: Kind
    detail: str
    seq: int | None = None
    checkpoint: int | None = None
    remembered: bool = False

    def __str__(self) -> str:
        where = []
        if self.seq is not None:
            where.append(f"entry seq {self.seq}")
        if self.checkpoint is not None:
            label = "remembered checkpoint" if self.remembered else "checkpoint"
            where.append(f"{label} #{self.checkpoint}")
        return f"{', '.join(where) or 'log'}: {self.kind}: {self.detail}"


@dataclass(frozen=True)
class Report:
    """Outcome of ``verify_log``."""

    problem: Problem | None
    entries: int  # entries that verified, in order, before any problem
    checkpoints: int  # stored checkpoints whose signature verified
    latest: Checkpoint | None  # newest stored checkpoint; record it outside the store

    @property
    def ok(self) -> bool:
        """True when the log is intact."""
        return self.problem is None


def _raw_seq(entries: Sequence[Record], i: int) -> int | None:
    if not 0 <= i < len(entries):
        return None
    record = entries[i]
    seq = record.get("seq") if isinstance(record, Mapping) else None
    return seq if type(seq) is int else None


def _parse(record: Record, chain: str | None) -> Entry | EnvelopeError:
    if not isinstance(record, Mapping):  # e.g. an export line that is not a JSON object
        return EnvelopeError("entry is not an object")
    try:
        entry = from_record(record)
    except EnvelopeError as exc:
        return exc
    if chain is not None and entry.chain != chain:
        return EnvelopeError(f"entry belongs to chain {entry.chain!r}, not {chain!r}")
    return entry


def _open_all(
    notes: Sequence[str], verifiers: Sequence[NoteVerifier], origin: str | None, remembered: bool
) -> list[Checkpoint] | Problem:
    opened: list[Checkpoint] = []
    for j, note in enumerate(notes):
        try:
            opened.append(open_checkpoint(note, verifiers, origin=origin))
        except UnknownKey as exc:
            return Problem(Kind.UNKNOWN_KEY, str(exc), checkpoint=j, remembered=remembered)
        except BadSignature as exc:
            return Problem(Kind.BAD_SIGNATURE, str(exc), checkpoint=j, remembered=remembered)
        except NoteError as exc:
            return Problem(Kind.MALFORMED, str(exc), checkpoint=j, remembered=remembered)
    return opened


def _misplaced(entries: Sequence[Record], i: int, expected: int, chain: str | None) -> Problem:
    """Classify position ``i`` holding seq s > expected: reordered, inserted or deleted."""
    s = _raw_seq(entries, i)
    later = {_raw_seq(entries, k): k for k in range(i + 1, len(entries))}
    here = _parse(entries[i], chain)
    if s in later:
        return Problem(Kind.INSERTED, f"seq {s} appears twice (positions {i}, {later[s]})", seq=s)
    if expected in later:
        pred = later.get(s - 1) if s is not None else None
        if (
            isinstance(here, Entry)
            and pred is not None
            and entries[pred].get("hash") == here.prev_hash
        ):
            # A genuine entry whose own predecessor sits further down: order was changed.
            return Problem(Kind.REORDERED, f"seq {s} is stored before seq {expected}", seq=expected)
        # Not linked to anything in the log: an extra entry pushed in before seq `expected`.
        return Problem(
            Kind.INSERTED, f"entry at position {i} (seq {s}) is not part of the chain", seq=s
        )
    return Problem(Kind.DELETED, f"seq {expected} is missing (found seq {s})", seq=expected)


def _walk_chain(entries: Sequence[Record], chain: str | None) -> tuple[list[bytes], Problem | None]:
    """Leaf hashes of the longest intact prefix, and what stops it (None: all intact)."""
    leaves: list[bytes] = []
    prev_hash: str | None = None
    for i, record in enumerate(entries):
        expected = len(leaves)
        s = _raw_seq(entries, i)
        if s is not None and _raw_seq(entries, i + 1) == s:
            return leaves, Problem(Kind.INSERTED, f"two entries claim seq {s}", seq=s)
        if s is not None and s < expected:
            return leaves, Problem(Kind.INSERTED, f"seq {s} appears again at position {i}", seq=s)
        if s is not None and s > expected:
            return leaves, _misplaced(entries, i, expected, chain)
        entry = _parse(record, chain)
        if isinstance(entry, EnvelopeError):
            return leaves, Problem(Kind.CHANGED, str(entry), seq=expected)
        if prev_hash is not None and entry.prev_hash != prev_hash:
            # This entry is intact but remembers a different predecessor: the predecessor
            # was altered and re-hashed after this entry was written.
            return leaves, Problem(
                Kind.CHANGED,
                f"seq {expected} links to a different version of seq {expected - 1}",
                seq=expected - 1,
            )
        chain = entry.chain
        prev_hash = entry.hash
        leaves.append(entry.leaf_hash())
    return leaves, None


@dataclass(frozen=True)
class _RootProblem:
    problem: Problem
    end: int  # the mismatching checkpoint's size: it says nothing about seq >= end


def _check_roots(
    leaves: Sequence[bytes], stored: Sequence[Checkpoint], outside: Sequence[Checkpoint]
) -> _RootProblem | None:
    """Compare every checkpoint within reach with the root recomputed from the entries."""
    due: dict[int, list[tuple[int, Checkpoint, bool]]] = {}
    for j, cp in enumerate(stored):
        due.setdefault(cp.size, []).append((j, cp, False))
    for j, cp in enumerate(outside):
        due.setdefault(cp.size, []).append((j, cp, True))
    tree = merkle.CompactRange()
    matched = matched_remembered = 0  # sizes of the last checkpoints that matched
    for size in range(len(leaves) + 1):
        if size:
            tree.append(leaves[size - 1])
        for j, cp, is_remembered in due.get(size, ()):
            if cp.root == tree.root():
                if is_remembered:
                    matched_remembered = size
                else:
                    matched = size
                continue
            if is_remembered:
                # The store forked from what was seen outside it: a rollback plus new entries.
                problem = Problem(
                    Kind.INCONSISTENT,
                    f"entries seq {matched_remembered}..{size - 1} differ from a checkpoint "
                    f"seen earlier outside the store",
                    seq=matched_remembered,
                    checkpoint=j,
                    remembered=True,
                )
            else:
                problem = Problem(
                    Kind.CHANGED,
                    f"entries seq {matched}..{size - 1} do not match the signed root "
                    f"(rewritten with recomputed hashes)",
                    seq=matched,
                    checkpoint=j,
                )
            return _RootProblem(problem, size)
    return None


def verify_log(
    entries: Sequence[Record],
    checkpoints: Sequence[str],
    verifiers: Sequence[NoteVerifier],
    *,
    origin: str | None = None,
    chain: str | None = None,
    remembered: Sequence[str] = (),
) -> Report:
    """Verify a whole log offline; see the module docstring for what is checked.

    ``origin`` pins the checkpoints' origin line and ``chain`` the entries' chain id
    (default: the first entry's). ``remembered`` are signed checkpoints kept outside the
    store, e.g. the ``latest`` of the previous run, written to a sink or witness.
    """
    stored = _open_all(checkpoints, verifiers, origin, remembered=False)
    if isinstance(stored, Problem):
        return Report(stored, 0, 0, None)
    latest = stored[-1] if stored else None
    outside = _open_all(remembered, verifiers, origin, remembered=True)
    if isinstance(outside, Problem):
        return Report(outside, 0, len(stored), latest)

    def fail(problem: Problem, done: int) -> Report:
        return Report(problem, done, len(stored), latest)

    # Checkpoints are appended over time: sizes never shrink, equal sizes share a root.
    for j in range(1, len(stored)):
        a, b = stored[j - 1], stored[j]
        if b.size < a.size or (b.size == a.size and b.root != a.root):
            return fail(
                Problem(
                    Kind.INCONSISTENT,
                    f"tree size {b.size} after {a.size} with a different history",
                    checkpoint=j,
                ),
                0,
            )

    leaves, chain_problem = _walk_chain(entries, chain)
    root_problem = _check_roots(leaves, stored, outside)
    # The chain walk names single entries; a root mismatch only bounds a range. Prefer the
    # chain's finding unless the mismatching checkpoint ends before it.
    if chain_problem and not (
        root_problem and chain_problem.seq is not None and root_problem.end <= chain_problem.seq
    ):
        done = len(leaves) if chain_problem.seq is None else min(len(leaves), chain_problem.seq)
        return fail(chain_problem, done)
    if root_problem:
        return fail(root_problem.problem, len(leaves))

    count = len(leaves)
    if latest is not None and latest.size > count:
        return fail(
            Problem(
                Kind.TRUNCATED,
                f"signed checkpoint covers {latest.size} entries, the store holds {count}",
                seq=count,
                checkpoint=len(stored) - 1,
            ),
            count,
        )
    newest_stored = latest.size if latest else 0
    for j, cp in enumerate(outside):
        if cp.size > count or cp.size > newest_stored:
            return fail(
                Problem(
                    Kind.ROLLED_BACK,
                    f"a checkpoint of size {cp.size} was seen before; the store holds "
                    f"{count} entries, its newest checkpoint covers {newest_stored}",
                    seq=min(count, newest_stored),
                    checkpoint=j,
                    remembered=True,
                ),
                count,
            )
    return Report(None, count, len(stored), latest)
