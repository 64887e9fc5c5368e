"""The canonical, versioned audit entry envelope (version 1).

An entry is both a link of a hash chain and a leaf of the RFC 6962 Merkle tree.

Canonical bytes (what ``Entry.canonical_bytes`` returns, what gets hashed and signed):
UTF-8 JSON of exactly these nine members, keys in ascending code-point order, no
whitespace (separators ``,`` and ``:``), non-ASCII characters written literally, the
string escapes of ``json.dumps`` (``\\" \\\\ \\b \\f \\n \\r \\t``, other controls as
lowercase ``\\u00xx``; controls are rejected anyway), integers only (no floats) — the
RFC 8785 (JCS) serialization of this restricted value space::

    {"action":A,"actor":R,"chain":C,"data":D,"prev_hash":P,"seq":N,"subject":S,"ts":T,"v":1}

* ``v``         integer 1 (the envelope version; a new format gets a new number)
* ``seq``       integer, 0 for the first entry of a chain, +1 each entry (= Merkle leaf index)
* ``ts``        RFC 3339 UTC with exactly six fractional digits: ``YYYY-MM-DDTHH:MM:SS.ffffffZ``
* ``chain``     the log's id, ``[a-z0-9][a-z0-9._-]{0,63}``
* ``prev_hash`` the previous entry's ``hash`` (64 lowercase hex); 64 zeros for seq 0
* ``actor``     who acted, 1-200 characters, no control characters (``system``,
                ``subject``, ``admin:<user>`` ...); never a cookie or its pseudonym
* ``action``    dotted lowercase, e.g. ``consent.given``, ``dsr.delete``
* ``subject``   a random subject id ``sub_<32 hex>`` or ``null``
* ``data``      ``null`` or ``{"alg":"A256GCM","ct":B64U,"kid":K,"nonce":B64U}``, the
                personal details sealed under the subject's own key (``audit.subject_crypto``);
                only allowed when ``subject`` is set

Derived values (never part of the canonical bytes):

* ``hash``       = lowercase hex of SHA-256(canonical bytes), the chain link
* Merkle leaf    = SHA-256(0x00 || canonical bytes) (RFC 6962 §2.1)

The stored record (``Entry.to_record``) is the nine members plus ``hash``. Test vectors
in ``tests/audit/test_envelope.py`` pin these bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from audit import merkle
from audit.subject_crypto import SealedData, is_subject_id

VERSION = 1
GENESIS_PREV_HASH = "0" * 64
ERASURE_ACTION = "dsr.delete"
MAX_SEQ = 2**53 - 1  # RFC 7493 (I-JSON) §2.2: integers beyond this lose precision elsewhere

FIELDS = frozenset({"v", "seq", "ts", "chain", "prev_hash", "actor", "action", "subject", "data"})
RECORD_FIELDS = FIELDS | {"hash"}

CHAIN_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
ACTION_RE = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+")
HASH_RE = re.compile(r"[0-9a-f]{64}")
TS_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class EnvelopeError(ValueError):
    """A value cannot be (or is not) a well-formed version-1 envelope."""


def canonical_json(value: object) -> bytes:
    """JCS-style bytes for JSON made of dicts with str keys, lists, str, int, bool, None."""
    _check_json(value)
    return _dumps(value)


def _dumps(value: object) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _check_json(value: object) -> None:
    if value is None or isinstance(value, bool | str):
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:  # lone surrogates have no UTF-8 form
                raise EnvelopeError("string is not valid Unicode") from exc
        return
    if isinstance(value, int):
        if abs(value) > MAX_SEQ:
            raise EnvelopeError("integer out of the interoperable range")
        return
    if isinstance(value, list):
        for item in value:
            _check_json(item)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise EnvelopeError("object keys must be strings")
            _check_json(key)
            _check_json(item)
        return
    raise EnvelopeError(f"{type(value).__name__} has no canonical form")


def format_ts(now: datetime) -> str:
    """``now`` (timezone-aware) as the envelope's fixed-width RFC 3339 UTC string."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise EnvelopeError("now must be timezone-aware")
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(ts: str) -> datetime:
    """The instant an envelope ``ts`` names; EnvelopeError unless it is in canonical form."""
    if TS_RE.fullmatch(ts) is None:
        raise EnvelopeError(f"ts {ts!r} is not YYYY-MM-DDTHH:MM:SS.ffffffZ")
    try:
        return datetime(
            int(ts[0:4]),
            int(ts[5:7]),
            int(ts[8:10]),
            int(ts[11:13]),
            int(ts[14:16]),
            int(ts[17:19]),
            int(ts[20:26]),
            tzinfo=UTC,
        )
    except ValueError as exc:  # e.g. February 30th
        raise EnvelopeError(f"ts {ts!r} is not a real instant") from exc


@dataclass(frozen=True)
class Entry:
    """One audit entry; construction validates every field."""

    chain: str
    seq: int
    ts: str
    prev_hash: str
    actor: str
    action: str
    subject: str | None
    data: SealedData | None
    v: int = VERSION

    def __post_init__(self) -> None:
        if type(self.v) is not int or self.v != VERSION:
            raise EnvelopeError(f"unsupported envelope version {self.v!r}")
        if not isinstance(self.chain, str) or CHAIN_RE.fullmatch(self.chain) is None:
            raise EnvelopeError("chain must match [a-z0-9][a-z0-9._-]{0,63}")
        if type(self.seq) is not int or not 0 <= self.seq <= MAX_SEQ:
            raise EnvelopeError("seq must be an integer in 0..2^53-1")
        if not isinstance(self.ts, str):
            raise EnvelopeError("ts must be a string")
        parse_ts(self.ts)
        if not isinstance(self.prev_hash, str) or HASH_RE.fullmatch(self.prev_hash) is None:
            raise EnvelopeError("prev_hash must be 64 lowercase hex digits")
        if (self.seq == 0) != (self.prev_hash == GENESIS_PREV_HASH):
            raise EnvelopeError("prev_hash is all zeros exactly for seq 0")
        if (
            not isinstance(self.actor, str)
            or not 1 <= len(self.actor) <= 200
            or _CONTROL_RE.search(self.actor)
        ):
            raise EnvelopeError("actor must be 1-200 characters without controls")
        _check_json(self.actor)
        if not isinstance(self.action, str) or ACTION_RE.fullmatch(self.action) is None:
            raise EnvelopeError("action must be dotted lowercase, e.g. consent.given")
        if len(self.action) > 64:
            raise EnvelopeError("action is longer than 64 characters")
        if self.subject is not None and (
            not isinstance(self.subject, str) or not is_subject_id(self.subject)
        ):
            raise EnvelopeError("subject must be a random subject id (sub_ + 32 hex) or null")
        if self.data is not None:
            if not isinstance(self.data, SealedData):
                raise EnvelopeError("data must be SealedData or None")
            # Personal details are only ever stored under a subject's own key.
            if self.subject is None:
                raise EnvelopeError("data needs a subject whose key sealed it")
        if self.action == ERASURE_ACTION and self.data is not None:
            raise EnvelopeError("an erasure tombstone carries no data")

    def members(self) -> dict[str, object]:
        """The nine canonical members as plain JSON values."""
        return {
            "action": self.action,
            "actor": self.actor,
            "chain": self.chain,
            "data": None if self.data is None else self.data.to_json(),
            "prev_hash": self.prev_hash,
            "seq": self.seq,
            "subject": self.subject,
            "ts": self.ts,
            "v": self.v,
        }

    @cached_property
    def _canonical(self) -> bytes:
        # Every member was validated in __post_init__, so no second walk is needed.
        return _dumps(self.members())

    def canonical_bytes(self) -> bytes:
        """The exact bytes that are hashed into the chain and the Merkle tree."""
        return self._canonical

    @cached_property
    def hash(self) -> str:
        """Chain link: lowercase hex SHA-256 of the canonical bytes."""
        return hashlib.sha256(self.canonical_bytes()).hexdigest()

    def leaf_hash(self) -> bytes:
        """RFC 6962 leaf hash of the canonical bytes."""
        return merkle.leaf_hash(self.canonical_bytes())

    def to_record(self) -> dict[str, object]:
        """The stored form: the canonical members plus ``hash``."""
        record = self.members()
        record["hash"] = self.hash
        return record


def from_record(record: Mapping[str, object]) -> Entry:
    """Parse a stored record; EnvelopeError if it is malformed or its ``hash`` is wrong."""
    keys = set(record)
    if keys != RECORD_FIELDS:
        missing, extra = sorted(RECORD_FIELDS - keys), sorted(keys - RECORD_FIELDS)
        raise EnvelopeError(f"record fields differ: missing {missing}, unexpected {extra}")
    raw_data = record["data"]
    try:
        data = None if raw_data is None else SealedData.from_json(raw_data)
    except ValueError as exc:
        raise EnvelopeError(f"data: {exc}") from exc
    entry = Entry(
        chain=record["chain"],  # type: ignore[arg-type]  # validated in __post_init__
        seq=record["seq"],  # type: ignore[arg-type]
        ts=record["ts"],  # type: ignore[arg-type]
        prev_hash=record["prev_hash"],  # type: ignore[arg-type]
        actor=record["actor"],  # type: ignore[arg-type]
        action=record["action"],  # type: ignore[arg-type]
        subject=record["subject"],  # type: ignore[arg-type]
        data=data,
        v=record["v"],  # type: ignore[arg-type]
    )
    if record["hash"] != entry.hash:
        raise EnvelopeError("hash does not match the entry's canonical bytes")
    return entry


def build_entry(
    *,
    chain: str,
    seq: int,
    prev_hash: str,
    now: datetime,
    actor: str,
    action: str,
    subject: str | None = None,
    data: SealedData | None = None,
) -> Entry:
    """A new entry at ``seq`` after the entry whose hash is ``prev_hash``."""
    return Entry(
        chain=chain,
        seq=seq,
        ts=format_ts(now),
        prev_hash=prev_hash,
        actor=actor,
        action=action,
        subject=subject,
        data=data,
    )


def next_position(prev: Entry | None) -> tuple[int, str]:
    """``(seq, prev_hash)`` for the entry that follows ``prev`` (None: the first entry)."""
    if prev is None:
        return 0, GENESIS_PREV_HASH
    return prev.seq + 1, prev.hash


def tombstone(
    *, chain: str, seq: int, prev_hash: str, now: datetime, actor: str, subject: str
) -> Entry:
    """The entry recording that ``subject`` was erased: action dsr.delete, no data.

    GDPR Art. 17 with crypto-shredding: the subject's key is destroyed, its old entries
    stay in the chain (so verification still passes) but can no longer be read.
    """
    if not is_subject_id(subject):
        raise EnvelopeError("tombstone needs the erased subject's id")
    return build_entry(
        chain=chain,
        seq=seq,
        prev_hash=prev_hash,
        now=now,
        actor=actor,
        action=ERASURE_ACTION,
        subject=subject,
        data=None,
    )
