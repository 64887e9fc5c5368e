"""Tests for audit/envelope.py: the canonical version-1 entry bytes, pinned by vectors."""

from __future__ import annotations

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

E0 = build_entry(
    chain="main",
    seq=0,
    prev_hash=GENESIS_PREV_HASH,
    now=T0,
    actor="system",
    action="config.loaded",
)
E1 = build_entry(
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
E2 = tombstone(chain="main", seq=2, prev_hash=E1.hash, now=T0, actor="subject", subject=SUBJECT)

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
        {"v": 2},
        {"v": True},
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
