"""The canonical, versioned audit entry envelope (versions 1 and 2).

An entry is both a link of a hash chain and a leaf of the RFC 6962 Merkle tree.

Canonical bytes (what ``Entry.canonical_bytes`` returns, what gets hashed and signed):
UTF-8 JSON of exactly these members, keys in ascending code-point order, no
whitespace (separators ``,`` and ``:``), non-ASCII characters written literally, the
string escapes of ``json.dumps`` (``\\" \\\\ \\b \\f \\n \\r \\t``, other controls as
lowercase ``\\u00xx``; controls are rejected anyway), integers only (no floats) — the
RFC 8785 (JCS) serialization of this restricted value space. Version 2 (what is written
now) has ten members::

    {"action":A,"actor":R,"chain":C,"data":D,"prev_hash":P,"public":U,"seq":N,"subject":S,
     "ts":T,"v":2}

Version 1 (entries written before version 2 existed; still read and verified) has the same
members without ``public``, and ``"v":1``. The version is inside the hashed bytes, so an
entry cannot be re-labelled from one version to the other without breaking its hash.

* ``v``         integer 1 or 2 (the envelope version; a new format gets a new number)
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
* ``public``    (version 2) ``null`` or a non-empty flat object of NON-personal details in
                the clear (config hash, key version, purge counts): at most 32 members, names
                ``[a-z][a-z0-9_]{0,63}``, values null, true/false, integers or strings of at
                most 200 characters without controls. The contract keeps such details out of
                ``actor``, which only says who acted.

Derived values (never part of the canonical bytes):

* ``hash``       = lowercase hex of SHA-256(canonical bytes), the chain link
* Merkle leaf    = SHA-256(0x00 || canonical bytes) (RFC 6962 §2.1)

The stored record (``Entry.to_record``) is the canonical members plus ``hash``; a version-1
record may also carry ``"public": null`` (what an export with a ``public`` column writes for
it), never a value. Test vectors in ``tests/audit/test_envelope.py`` pin these bytes.
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

VERSION = 2  # what new entries are written as
VERSIONS = (1, 2)  # what is read and verified
GENESIS_PREV_HASH = "0" * 64
ERASURE_ACTION = "dsr.delete"
MAX_SEQ = 2**53 - 1  # RFC 7493 (I-JSON) §2.2: integers beyond this lose precision elsewhere

FIELDS_V1 = frozenset(
    {"v", "seq", "ts", "chain", "prev_hash", "actor", "action", "subject", "data"}
)
FIELDS = FIELDS_V1 | {"public"}
RECORD_FIELDS = FIELDS | {"hash"}
RECORD_FIELDS_V1 = FIELDS_V1 | {"hash"}
PUBLIC_MAX_MEMBERS = 32
PUBLIC_MAX_TEXT = 200
PUBLIC_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")

PublicValue = str | int | bool | None
Public = tuple[tuple[str, PublicValue], ...]  # sorted by name: hashable, one canonical order

CHAIN_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
ACTION_RE = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+")
HASH_RE = re.compile(r"[0-9a-f]{64}")
TS_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class EnvelopeError(ValueError):
    """A value cannot be (or is not) a well-formed envelope."""


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


def public_details(details: Mapping[str, object] | None) -> Public | None:
    """``details`` as an entry's ``public`` member (None or empty: no public details);
    EnvelopeError unless it fits the value space in the module docstring."""
    if details is None or len(details) == 0:
        return None
    if len(details) > PUBLIC_MAX_MEMBERS:
        raise EnvelopeError(f"public has more than {PUBLIC_MAX_MEMBERS} members")
    items: list[tuple[str, PublicValue]] = []
    for name, value in details.items():
        if not isinstance(name, str) or PUBLIC_NAME_RE.fullmatch(name) is None:
            raise EnvelopeError(f"public member name {name!r} is not [a-z][a-z0-9_]{{0,63}}")
        if isinstance(value, str):
            if len(value) > PUBLIC_MAX_TEXT or _CONTROL_RE.search(value):
                raise EnvelopeError(f"public.{name}: at most 200 characters, no controls")
        elif value is not None and not isinstance(value, bool | int):
            raise EnvelopeError(f"public.{name}: only null, booleans, integers and strings")
        _check_json(value)
        items.append((name, value))
    return tuple(sorted(items))


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
    public: Public | None = None
    v: int = VERSION

    def __post_init__(self) -> None:
        if type(self.v) is not int or self.v not in VERSIONS:
            raise EnvelopeError(f"unsupported envelope version {self.v!r}")
        if self.public is not None:
            if self.v == 1:
                raise EnvelopeError("a version-1 entry has no public details")
            try:
                canonical = public_details(dict(self.public))
            except (TypeError, ValueError):
                canonical = None
            if not isinstance(self.public, tuple) or canonical != self.public:
                raise EnvelopeError("public must be sorted (name, value) pairs of the value space")
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
        """The canonical members as plain JSON values (ten; nine for version 1)."""
        members: dict[str, object] = {
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
        if self.v >= 2:
            members["public"] = self.public_dict()
        return members

    def public_dict(self) -> dict[str, PublicValue] | None:
        """The public details as a JSON object (None when there are none)."""
        return None if self.public is None else dict(self.public)

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
    version = record.get("v")
    expected = RECORD_FIELDS
    if version == 1 and type(version) is int:
        # An export writes a ``public`` column for every entry; for version 1 it can only be
        # null, as no version-1 hash covers it (a value there would be unprotected).
        if "public" in record and record["public"] is not None:
            raise EnvelopeError("a version-1 entry has no public details")
        keys.discard("public")
        expected = RECORD_FIELDS_V1
    if keys != expected:
        missing, extra = sorted(expected - keys), sorted(keys - expected)
        raise EnvelopeError(f"record fields differ: missing {missing}, unexpected {extra}")
    raw_public = record.get("public")
    if raw_public is not None and not isinstance(raw_public, Mapping):
        raise EnvelopeError("public must be an object or null")
    public = public_details(raw_public)
    if raw_public is not None and public is None:
        raise EnvelopeError("public is an empty object; no details are written as null")
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
        public=public,
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
    public: Mapping[str, object] | None = None,
) -> Entry:
    """A new (current-version) entry at ``seq`` after the entry whose hash is ``prev_hash``;
    ``public`` holds non-personal details in the clear (never personal data)."""
    return Entry(
        chain=chain,
        seq=seq,
        ts=format_ts(now),
        prev_hash=prev_hash,
        actor=actor,
        action=action,
        subject=subject,
        data=data,
        public=public_details(public),
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
