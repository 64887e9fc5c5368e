import base64
import hashlib
import hmac
import os
import re
import struct
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent.pseudonyms import (
    Keyring,
    KeyringError,
    new_subject_ref,
    new_visitor_id,
    parse_master_key,
    parse_subject_ref,
    parse_visitor_id,
)


def counter_rand() -> Callable[[int], bytes]:
    state = [0]

    def rand(n: int) -> bytes:
        state[0] += 1
        return hashlib.sha256(str(state[0]).encode()).digest()[:n].ljust(n, b"\x00")

    return rand


MASTER = bytes(range(32))


@given(st.binary(min_size=16, max_size=16))
def test_visitor_id_round_trips_and_is_canonical(raw: bytes) -> None:
    vid = new_visitor_id(lambda n: raw)
    assert len(vid) == 22 and re.fullmatch(r"[A-Za-z0-9_-]{22}", vid)
    assert parse_visitor_id(vid) == vid
    assert base64.urlsafe_b64decode(vid + "==") == raw


URLSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@given(st.text(alphabet=URLSAFE, min_size=22, max_size=22))
def test_only_canonical_ids_parse(value: str) -> None:
    raw = base64.urlsafe_b64decode(value + "==")
    canonical = new_visitor_id(lambda n: raw)
    # Exactly one spelling per 128-bit id: the parser accepts only the re-encoded form.
    assert (parse_visitor_id(value) == value) is (canonical == value)
    assert parse_visitor_id(canonical) == canonical


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "A" * 21,
        "A" * 23,
        "A" * 21 + "B",  # non-canonical: spare bits set
        "A" * 21 + "=",
        "A" * 20 + "==",
        "A" * 21 + "+",  # standard base64 alphabet
        "A" * 21 + "/",
        " " + "A" * 22,
        "A" * 22 + "\n",
        "0" * 32,  # hex form is not ours
        "../../etc/passwd",
    ],
)
def test_malformed_visitor_id_is_no_cookie(value: str | None) -> None:
    assert parse_visitor_id(value) is None


def test_new_visitor_id_rejects_a_short_random_source() -> None:
    with pytest.raises(ValueError):
        new_visitor_id(lambda n: b"\x00" * (n - 1))


def test_pseudonym_format_matches_the_documented_hmac() -> None:
    ring = Keyring.generate(counter_rand())
    vid = new_visitor_id(os.urandom)
    raw = base64.urlsafe_b64decode(vid + "==")
    expected = hmac.new(ring.keys[1], b"visitor\x00" + raw, "sha256")
    assert ring.pseudonym(vid) == "1:" + expected.hexdigest()
    with pytest.raises(ValueError):
        ring.pseudonym("not-a-visitor-id")


@given(st.binary(min_size=16, max_size=16))
def test_pseudonym_is_stable_and_keyed(raw: bytes) -> None:
    vid = new_visitor_id(lambda n: raw)
    ring = Keyring.generate(counter_rand())
    other = Keyring({1: b"\x01" * 32}, 1)
    assert ring.pseudonym(vid) == ring.pseudonym(vid)
    assert ring.pseudonym(vid) != other.pseudonym(vid)
    assert vid not in ring.pseudonym(vid)


def test_rotation_keeps_old_versions_findable() -> None:
    rand = counter_rand()
    v1 = Keyring.generate(rand)
    vid = new_visitor_id(rand)
    stored = v1.pseudonym(vid)  # written before the rotation
    v3 = v1.rotate(rand).rotate(rand)
    assert v3.current == 3 and sorted(v3.keys) == [1, 2, 3]
    candidates = list(v3.candidates(vid))
    assert [c.split(":")[0] for c in candidates] == ["3", "2", "1"]  # newest first
    assert candidates[0] == v3.pseudonym(vid) != stored
    assert stored in candidates  # the I/O layer finds the old row and re-keys it
    assert v1.current == 1 and sorted(v1.keys) == [1]  # immutable


def test_retire() -> None:
    rand = counter_rand()
    ring = Keyring.generate(rand).rotate(rand)
    assert sorted(ring.retire(1).keys) == [2]
    with pytest.raises(KeyringError):
        ring.retire(2)


def test_derive_separates_domains() -> None:
    ring = Keyring.generate(counter_rand())
    assert ring.derive(b"visitor", b"x") != ring.derive(b"email", b"x")
    # The separator keeps ("ab", "c") and ("a", "bc") apart.
    assert ring.derive(b"ab", b"c") != ring.derive(b"a", b"bc")


def test_seal_open_round_trip_and_documented_format() -> None:
    rand = counter_rand()
    ring = Keyring.generate(rand).rotate(rand)
    blob = ring.seal(MASTER, rand)
    assert blob[:4] == b"CGK1"
    assert len(blob) == 4 + 12 + 8 + 2 * (4 + 32) + 16  # header, nonce, body, GCM tag
    opened = Keyring.open(blob, MASTER)
    assert opened == ring
    for key in ring.keys.values():
        assert key not in blob  # encrypted at rest
    # The body layout from the module docstring.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    body = AESGCM(MASTER).decrypt(blob[4:16], blob[16:], b"CGK1")
    assert struct.unpack(">II", body[:8]) == (2, 2)
    assert struct.unpack(">I", body[8:12]) == (1,) and body[12:44] == ring.keys[1]


def test_open_rejects_tampering_and_wrong_keys() -> None:
    rand = counter_rand()
    blob = Keyring.generate(rand).seal(MASTER, rand)
    with pytest.raises(KeyringError):
        Keyring.open(blob, bytes(32))
    for i in range(len(blob)):
        flipped = bytearray(blob)
        flipped[i] ^= 0x01
        with pytest.raises(KeyringError):
            Keyring.open(bytes(flipped), MASTER)
    with pytest.raises(KeyringError):
        Keyring.open(blob[:-1], MASTER)
    with pytest.raises(KeyringError):
        Keyring.open(b"", MASTER)
    with pytest.raises(KeyringError):
        Keyring.open(blob, MASTER[:16])


def test_repr_never_shows_key_bytes() -> None:
    ring = Keyring({1: b"\xab" * 32}, 1)
    assert "ab" not in repr(ring).lower().replace("keyring", "")
    assert repr(ring) == "Keyring(versions=[1], current=1)"


def test_keyring_shape_checks() -> None:
    with pytest.raises(KeyringError):
        Keyring({1: b"x" * 32}, 2)
    with pytest.raises(KeyringError):
        Keyring({1: b"x" * 31}, 1)
    with pytest.raises(KeyringError):
        Keyring({0: b"x" * 32}, 0)


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        (base64.b64encode(MASTER).decode(), True),
        (base64.b64encode(MASTER).decode() + "\n", True),  # a key file ends with a newline
        (base64.urlsafe_b64encode(MASTER), True),
        (base64.b64encode(MASTER[:16]).decode(), False),
        (base64.b64encode(MASTER + b"x").decode(), False),
        ("not base64!", False),
        ("", False),
    ],
)
def test_parse_master_key(text: str | bytes, ok: bool) -> None:
    if ok:
        assert parse_master_key(text) == MASTER
    else:
        with pytest.raises(KeyringError):
            parse_master_key(text)


def test_subject_ref() -> None:
    ref = new_subject_ref(lambda n: b"\x00" * n)
    assert ref == "CG-AAAAAAAAAAAAAAAA"
    fresh = new_subject_ref(os.urandom)
    assert re.fullmatch(r"CG-[A-Z2-7]{16}", fresh)
    assert parse_subject_ref(" cg-" + fresh[3:].lower() + " ") == fresh
    assert parse_subject_ref("CG-AAAA") is None
    assert parse_subject_ref("CG-AAAAAAAAAAAAAAA1") is None  # '1' is not base32


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\x00\x00\x00\x01", "truncated"),
        (struct.pack(">II", 1, 2) + struct.pack(">I", 1) + b"k" * 32, "entry count"),
        (struct.pack(">II", 1, 2) + (struct.pack(">I", 1) + b"k" * 32) * 2, "repeats a version"),
        (struct.pack(">II", 2, 1) + struct.pack(">I", 1) + b"k" * 32, "no key"),
    ],
)
def test_open_checks_the_body_shape(body: bytes, message: str) -> None:
    # Authentic under the master key but malformed: still a clear KeyringError.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = b"n" * 12
    blob = b"CGK1" + nonce + AESGCM(MASTER).encrypt(nonce, body, b"CGK1")
    with pytest.raises(KeyringError, match=message):
        Keyring.open(blob, MASTER)
