"""Tests for audit/envelope.py: the canonical entry bytes of versions 1 and 2, pinned by vectors."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from audit.envelope import (
    GENESIS_PREV_HASH,
    Entry,
    EnvelopeError,
    build_entry,
    canonical_json,
    format_ts,
    from_record,
    next_position,
    parse_ts,
    tombstone,
)
from audit.merkle import leaf_hash
from audit.subject_crypto import SealedData, new_subject_key, seal

SUBJECT = "sub_00112233445566778899aabbccddeeff"
T0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
SEALED = seal(
    new_subject_key(bytes(range(32)), "1"),
    {"email": "ana@example.com", "purposes": {"analytics": True}},
    chain="main",
    seq=1,
    subject=SUBJECT,
    nonce=bytes(range(12)),
)


def v1(entry: Entry) -> Entry:
    """The same entry as version 1 wrote it (stores made before version 2 hold these)."""
    return dataclasses.replace(entry, v=1)


E0 = v1(
    build_entry(
        chain="main",
        seq=0,
        prev_hash=GENESIS_PREV_HASH,
        now=T0,
        actor="system",
        action="config.loaded",
    )
)
E1 = v1(
    build_entry(
        chain="main",
        seq=1,
        prev_hash=E0.hash,
        # 04:04:05 at UTC+1 is 03:04:05Z: ts is always normalized to UTC.
        now=datetime(2026, 1, 2, 4, 4, 5, tzinfo=timezone(timedelta(hours=1))),
        actor="admin:zo\u00eb",
        action="consent.given",
        subject=SUBJECT,
        data=SEALED,
    )
)
E2 = v1(tombstone(chain="main", seq=2, prev_hash=E1.hash, now=T0, actor="subject", subject=SUBJECT))
# Version 2, continuing the same chain: non-personal details in `public`, never in `actor`.
E3 = build_entry(
    chain="main",
    seq=3,
    prev_hash=E2.hash,
    now=T0,
    actor="system",
    action="config.loaded",
    public={"config_sha256": "ab" * 32},
)
E4 = build_entry(
    chain="main",
    seq=4,
    prev_hash=E3.hash,
    now=T0,
    actor="cli",
    action="retention.purged",
    public={"events": 12, "dry_run": False, "note": None, "by": "zo\u00eb"},
)
E5 = build_entry(
    chain="main",
    seq=5,
    prev_hash=E4.hash,
    now=T0,
    actor="visitor",
    action="consent.given",
    subject=SUBJECT,
    data=SEALED,
)

# (entry, canonical bytes, hash, Merkle leaf hash): computed once, pinned.
VECTORS = [
    (
        E0,
        b'{"action":"config.loaded","actor":"system","chain":"main","data":null,'
        b'"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000",'
        b'"seq":0,"subject":null,"ts":"2026-01-02T03:04:05.678901Z","v":1}',
        "3b4fac6b7660f06ee136fbed863e80f98174ed78b7b91aeee43eef59cf5615a8",
        "2d6ac1862576796706812aa061014dc89f30e2f8493ab92d6731cf310c2c68e0",
    ),
    (
        E1,
        b'{"action":"consent.given","actor":"admin:zo\xc3\xab","chain":"main",'
        b'"data":{"alg":"A256GCM","ct":"PCCzdqSMrjm3Y_bl0KkdFeK791iVVTwTVUXJp20ccsJuY8uPjftpuhXK'
        b'HoHx80FbnXta-SijxqdCTsDlvT-VXkRuQlwz0BjwCw","kid":"1","nonce":"AAECAwQFBgcICQoL"},'
        b'"prev_hash":"3b4fac6b7660f06ee136fbed863e80f98174ed78b7b91aeee43eef59cf5615a8",'
        b'"seq":1,"subject":"sub_00112233445566778899aabbccddeeff",'
        b'"ts":"2026-01-02T03:04:05.000000Z","v":1}',
        "3fa7f34f6691b1447da4c1b8dd0e3e4e4e5d54b79d1c8b42b2b6ccf39161101d",
        "d3886042f06087fda1e0b1ec1f662c4125a061d04bd78f3baf37b3f597bf6bba",
    ),
    (
        E2,
        b'{"action":"dsr.delete","actor":"subject","chain":"main","data":null,'
        b'"prev_hash":"3fa7f34f6691b1447da4c1b8dd0e3e4e4e5d54b79d1c8b42b2b6ccf39161101d",'
        b'"seq":2,"subject":"sub_00112233445566778899aabbccddeeff",'
        b'"ts":"2026-01-02T03:04:05.678901Z","v":1}',
        "172f7502ce87e0fbd1674c43b01c381b3e3df385934e56a86ea8c371949b23c7",
        "abfba4f78898e6a6a2e1ce8acf3c83c5f8f0c2ad024a649090ae8810ae4b3d7f",
    ),
    (
        E3,
        b'{"action":"config.loaded","actor":"system","chain":"main","data":null,'
        b'"prev_hash":"172f7502ce87e0fbd1674c43b01c381b3e3df385934e56a86ea8c371949b23c7",'
        b'"public":{"config_sha256":"abababababababababababababababababababababababababab'
        b'abababababab"},"seq":3,"subject":null,"ts":"2026-01-02T03:04:05.678901Z","v":2}',
        "353bcfda7dc9c382b9e347da1cc3dca64ea642d1e9fe42c9772b06899e7155e5",
        "eb4ef03400adf764cf22144f08d9faab292c0974a867eccb82271b4151fe0d8b",
    ),
    (
        E4,
        b'{"action":"retention.purged","actor":"cli","chain":"main","data":null,'
        b'"prev_hash":"353bcfda7dc9c382b9e347da1cc3dca64ea642d1e9fe42c9772b06899e7155e5",'
        b'"public":{"by":"zo\xc3\xab","dry_run":false,"events":12,"note":null},"seq":4,'
        b'"subject":null,"ts":"2026-01-02T03:04:05.678901Z","v":2}',
        "98f059e48582bd70e9b166e433780c8763c43a1bf18f049b79b5eefaeea2a348",
        "b1d0d132a8ddba07719cb02b22ea49acaf3dae5f76a10450494e71983be1cb0c",
    ),
    (
        E5,
        b'{"action":"consent.given","actor":"visitor","chain":"main",'
        b'"data":{"alg":"A256GCM","ct":"PCCzdqSMrjm3Y_bl0KkdFeK791iVVTwTVUXJp20ccsJuY8uPjftpuhXK'
        b'HoHx80FbnXta-SijxqdCTsDlvT-VXkRuQlwz0BjwCw","kid":"1","nonce":"AAECAwQFBgcICQoL"},'
        b'"prev_hash":"98f059e48582bd70e9b166e433780c8763c43a1bf18f049b79b5eefaeea2a348",'
        b'"public":null,"seq":5,"subject":"sub_00112233445566778899aabbccddeeff",'
        b'"ts":"2026-01-02T03:04:05.678901Z","v":2}',
        "f4a47601c03040c875a459ba4d07b5d0d0cb5700df7ccb82c9162ffb8a06c1cc",
        "cd9373d367dac9e0e0665e8eb717b8e4cfbcbd215dcd382f0931b5144fc149fd",
    ),
]


@pytest.mark.parametrize(("entry", "raw", "hash_hex", "leaf_hex"), VECTORS)
def test_pinned_vectors(entry: Entry, raw: bytes, hash_hex: str, leaf_hex: str) -> None:
    assert entry.canonical_bytes() == raw
    assert entry.hash == hash_hex == hashlib.sha256(raw).hexdigest()
    assert entry.leaf_hash().hex() == leaf_hex
    assert entry.leaf_hash() == leaf_hash(raw) == hashlib.sha256(b"\x00" + raw).digest()
    record = entry.to_record()
    assert record["hash"] == hash_hex
    assert from_record(record) == entry


def test_tombstone_shape() -> None:
    assert (E2.action, E2.subject, E2.data) == ("dsr.delete", SUBJECT, None)
    with pytest.raises(EnvelopeError):
        tombstone(chain="main", seq=2, prev_hash=E1.hash, now=T0, actor="subject", subject="x")


def test_next_position() -> None:
    assert next_position(None) == (0, GENESIS_PREV_HASH)
    assert next_position(E1) == (2, E1.hash)


def _fields(**over: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "chain": "main",
        "seq": 1,
        "ts": "2026-01-02T03:04:05.000000Z",
        "prev_hash": E0.hash,
        "actor": "system",
        "action": "consent.given",
        "subject": SUBJECT,
        "data": None,
    }
    fields.update(over)
    return fields


@pytest.mark.parametrize(
    "over",
    [
        {"chain": ""},
        {"chain": "Main"},
        {"chain": "a b"},
        {"chain": "x" * 65},
        {"seq": -1},
        {"seq": True},
        {"seq": 1.0},
        {"seq": 2**53},
        {"seq": "1"},
        {"ts": "2026-01-02T03:04:05Z"},  # fraction digits are fixed at six
        {"ts": "2026-01-02T03:04:05.000000+00:00"},
        {"ts": "2026-01-02 03:04:05.000000Z"},
        {"ts": "2026-02-30T03:04:05.000000Z"},
        {"ts": "2026-01-02T03:04:05.\u0660\u0660\u0660\u0660\u0660\u0660Z"},  # Arabic-Indic
        {"prev_hash": E0.hash.upper()},
        {"prev_hash": E0.hash[:-1]},
        {"prev_hash": GENESIS_PREV_HASH},  # zeros only for seq 0
        {"seq": 0},  # seq 0 needs the genesis prev_hash
        {"actor": ""},
        {"actor": "a" * 201},
        {"actor": "line\nbreak"},
        {"actor": "esc\x1b"},
        {"actor": "c1\x85"},
        {"actor": "lone\ud800"},
        {"actor": None},
        {"action": "consent"},
        {"action": "Consent.Given"},
        {"action": "consent..given"},
        {"action": "consent.given."},
        {"action": "a." + "b" * 63},
        {"subject": "5f2b6c7e"},  # e.g. a cookie pseudonym: not a subject id
        {"subject": ""},
        {"data": SEALED, "subject": None},  # personal data must be under a subject key
        {"data": {"alg": "A256GCM"}},
        {"action": "dsr.delete", "data": SEALED},
        {"v": 3},
        {"v": 0},
        {"v": True},
        {"public": (("config_sha256", "ab"),), "v": 1},  # version 1 has no public details
        {"public": ()},  # no details are written as null, not as an empty object
        {"public": (("b", 1), ("a", 2))},  # one canonical order
        {"public": (("Config", 1),)},
        {"public": (("a-b", 1),)},
        {"public": (("a", 1.5),)},
        {"public": (("a", [1]),)},
        {"public": (("a", {"b": 1}),)},
        {"public": (("a", 2**53),)},
        {"public": (("a", "x" * 201),)},
        {"public": (("a", "line\nbreak"),)},
        {"public": {"a": 1}},  # a mapping is turned into pairs by build_entry, not here
        {"public": ((1, 2, 3),)},
        {"public": tuple((f"k{i:02}", i) for i in range(33))},
    ],
)
def test_invalid_fields(over: dict[str, Any]) -> None:
    with pytest.raises(EnvelopeError):
        Entry(**_fields(**over))


def test_record_round_trip_and_strictness() -> None:
    record = E1.to_record()
    assert from_record(dict(record)) == E1
    for key in record:
        broken = {k: v for k, v in record.items() if k != key}
        with pytest.raises(EnvelopeError):
            from_record(broken)
    with pytest.raises(EnvelopeError):
        from_record({**record, "id": 7})
    with pytest.raises(EnvelopeError):
        from_record({**record, "hash": E0.hash})
    with pytest.raises(EnvelopeError):
        from_record({**record, "actor": "someone else"})  # hash no longer matches
    with pytest.raises(EnvelopeError):
        from_record({**record, "data": {**SEALED.to_json(), "kid": "2"}})
    with pytest.raises(EnvelopeError):
        from_record({**record, "data": "not an object"})


def test_version_1_records_stay_readable_and_cannot_be_relabelled() -> None:
    old = E1.to_record()
    assert "public" not in old and old["v"] == 1
    # An export writes a `public` column for every entry: null is the only value for v1.
    assert from_record({**old, "public": None}) == E1
    with pytest.raises(EnvelopeError, match="version-1 entry has no public"):
        from_record({**old, "public": {"config_sha256": "ab" * 32}})
    new = E3.to_record()
    assert new["public"] == {"config_sha256": "ab" * 32} and new["v"] == 2
    assert from_record(dict(new)) == E3
    with pytest.raises(EnvelopeError, match="missing"):
        from_record({k: v for k, v in new.items() if k != "public"})
    # The version is hashed: a v2 entry passed off as v1 (its details dropped) fails.
    with pytest.raises(EnvelopeError, match="hash does not match"):
        from_record({**{k: v for k, v in new.items() if k != "public"}, "v": 1})
    with pytest.raises(EnvelopeError, match="hash does not match"):
        from_record({**new, "public": {"config_sha256": "cd" * 32}})
    with pytest.raises(EnvelopeError, match="empty object"):
        from_record({**new, "public": {}})
    with pytest.raises(EnvelopeError, match="object or null"):
        from_record({**new, "public": "config_sha256=ab"})


def test_build_entry_takes_public_details_as_a_mapping() -> None:
    assert E4.public == (("by", "zo\u00eb"), ("dry_run", False), ("events", 12), ("note", None))
    assert E4.public_dict() == {"by": "zo\u00eb", "dry_run": False, "events": 12, "note": None}
    assert E5.public is None
    empty = build_entry(
        chain="main",
        seq=0,
        prev_hash=GENESIS_PREV_HASH,
        now=T0,
        actor="system",
        action="config.loaded",
        public={},
    )
    assert empty.public is None and b'"public":null' in empty.canonical_bytes()


def test_format_ts() -> None:
    assert format_ts(T0) == "2026-01-02T03:04:05.678901Z"
    assert parse_ts(format_ts(T0)) == T0
    with pytest.raises(EnvelopeError):
        format_ts(datetime(2026, 1, 2))  # naive: no way to know it is UTC


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ({"b": 1, "a": [True, None, "é"]}, '{"a":[true,null,"é"],"b":1}'.encode()),
        ('"\\\n\t\x01', b'"\\"\\\\\\n\\t\\u0001"'),
        ({"z": {"y": 1, "x": 2}}, b'{"z":{"x":2,"y":1}}'),
    ],
)
def test_canonical_json(value: object, want: bytes) -> None:
    assert canonical_json(value) == want


@pytest.mark.parametrize("value", [1.5, float("nan"), 2**53, {1: "x"}, b"bytes", "\udc00"])
def test_canonical_json_rejects(value: object) -> None:
    with pytest.raises(EnvelopeError):
        canonical_json(value)


def test_sealed_data_type_is_checked() -> None:
    with pytest.raises(EnvelopeError):
        Entry(**_fields(data=SEALED.to_json()))
    assert isinstance(E1.data, SealedData)


def test_ts_must_be_a_string() -> None:
    with pytest.raises(EnvelopeError):
        Entry(**_fields(ts=T0))
