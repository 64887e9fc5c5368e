"""Tests for audit/merkle.py.

Conformance: the RFC 6962 inclusion and consistency probes of transparency-dev/merkle
``testdata/`` @417fb0c (Apache-2.0), vendored in ``tests/data/transparency-dev-merkle``
(see its PROVENANCE); each file is a happy path or one mutation (bit-flipped proof,
wrong leaf, size ×2, trailing garbage ...) with ``wantErr``. The leaf inputs and roots
below are the RFC 6962 reference tree of transparency-dev/merkle
``testonly/constants.go``.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit import merkle
from audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    ProofError,
    Tree,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).parents[1] / "data" / "transparency-dev-merkle"

# RFC 6962 test leaves (transparency-dev/merkle testonly.LeafInputs).
LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
# testonly.RootHashes for sizes 1..8.
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
REF_TREE = Tree([leaf_hash(x) for x in LEAF_INPUTS])


def _probes(kind: str, name: str = "*.json") -> list[Any]:
    folder = VECTORS / kind
    files = sorted(folder.rglob(name))
    # An empty parametrize would pass silently: a missing vector folder must fail collection.
    assert files, f"no {name} under {folder}"
    return [pytest.param(p, id=str(p.relative_to(folder))) for p in files]


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    data["proof"] = [_b64(p) for p in data.get("proof") or []]
    return data


@pytest.mark.parametrize("path", _probes("inclusion"))
def test_inclusion_probe(path: Path) -> None:
    """transparency-dev/merkle testdata/inclusion: verify accepts exactly the happy paths."""
    d = _load(path)
    args = (d["leafIdx"], d["treeSize"], _b64(d["leafHash"]), d["proof"], _b64(d["root"]))
    if d["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("path", _probes("consistency"))
def test_consistency_probe(path: Path) -> None:
    """transparency-dev/merkle testdata/consistency: verify accepts exactly the happy paths."""
    d = _load(path)
    args = (d["size1"], d["size2"], d["proof"], _b64(d["root1"]), _b64(d["root2"]))
    if d["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


@pytest.mark.parametrize("path", _probes("inclusion", "happy-path.json"))
def test_generated_inclusion_proof_matches_happy_path(path: Path) -> None:
    """Our PATH() over the reference leaves reproduces each happy-path proof byte for byte."""
    d = _load(path)
    assert REF_TREE.inclusion_proof(d["leafIdx"], d["treeSize"]) == d["proof"]
    assert REF_TREE.root(d["treeSize"]) == _b64(d["root"])


@pytest.mark.parametrize("path", _probes("consistency", "happy-path.json"))
def test_generated_consistency_proof_matches_happy_path(path: Path) -> None:
    """Our PROOF() over the reference leaves reproduces each happy-path proof byte for byte."""
    d = _load(path)
    assert REF_TREE.consistency_proof(d["size1"], d["size2"]) == d["proof"]


def test_reference_roots() -> None:
    """RFC 6962 roots of the reference tree at every size, from both tree shapes."""
    cr = CompactRange()
    assert cr.root() == EMPTY_ROOT == Tree().root() == merkle.root([])
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    for size, want in enumerate(ROOTS, start=1):
        cr.append(leaf_hash(LEAF_INPUTS[size - 1]))
        assert cr.root().hex() == want
        assert REF_TREE.root(size).hex() == want


def test_domain_separation() -> None:
    """RFC 6962 §2.1: a leaf and an inner node over the same bytes never collide."""
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert leaf_hash(a + b) != node_hash(a, b)
    assert leaf_hash(b"") == bytes.fromhex(
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH, written as literally as possible."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


def test_every_proof_up_to_40_leaves() -> None:
    """Exhaustive: roots equal the literal MTH; every generated proof verifies."""
    leaves = [leaf_hash(i.to_bytes(2, "big")) for i in range(40)]
    tree = Tree(leaves)
    for n in range(41):
        assert tree.root(n) == _mth(leaves[:n]) == merkle.root(leaves[:n])
        for i in range(n):
            verify_inclusion(i, n, leaves[i], tree.inclusion_proof(i, n), tree.root(n))
        for m in range(1, n + 1):
            proof = tree.consistency_proof(m, n)
            verify_consistency(m, n, proof, tree.root(m), tree.root(n))


@given(st.integers(2, 300), st.data())
def test_mutated_proofs_fail(n: int, data: st.DataObject) -> None:
    """Flipping one bit anywhere in a proof, or lying about the index, is always caught."""
    leaves = [leaf_hash(i.to_bytes(2, "big")) for i in range(n)]
    tree = Tree(leaves)
    i = data.draw(st.integers(0, n - 1))
    proof = tree.inclusion_proof(i)
    j = data.draw(st.integers(0, len(proof) - 1))
    bit = data.draw(st.integers(0, 255))
    bad = list(proof)
    bad[j] = (int.from_bytes(bad[j], "big") ^ (1 << bit)).to_bytes(32, "big")
    with pytest.raises(ProofError):
        verify_inclusion(i, n, leaves[i], bad, tree.root())
    with pytest.raises(ProofError):
        verify_inclusion((i + 1) % n, n, leaves[i], proof, tree.root())
    m = data.draw(st.integers(1, n - 1))
    cproof = tree.consistency_proof(m)
    with pytest.raises(ProofError):
        verify_consistency(m, n, cproof, tree.root(m), leaf_hash(b"other"))
    with pytest.raises(ProofError):
        verify_consistency(m, n, cproof[:-1], tree.root(m), tree.root())


def test_hundred_thousand_leaves() -> None:
    """1e5 leaves: the cached tree answers proofs without rehashing everything."""
    n = 100_000
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    tree = Tree(leaves)
    root = tree.root()
    assert root == merkle.root(leaves)
    for i in (0, 65_535, 65_536, n - 1):
        proof = tree.inclusion_proof(i)
        # Length = levels below the fork from the right edge + left siblings above it.
        inner = (i ^ (n - 1)).bit_length()
        assert len(proof) == inner + bin(i >> inner).count("1") <= 17
        verify_inclusion(i, n, leaves[i], proof, root)
    verify_consistency(70_001, n, tree.consistency_proof(70_001), tree.root(70_001), root)


@pytest.mark.parametrize(
    ("call", "args"),
    [
        ("inclusion_proof", (8, 8)),
        ("inclusion_proof", (0, 9)),
        ("inclusion_proof", (-1, 8)),
        ("consistency_proof", (0, 8)),
        ("consistency_proof", (5, 4)),
        ("consistency_proof", (1, 9)),
        ("root", (9,)),
    ],
)
def test_proof_generation_rejects_bad_ranges(call: str, args: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        getattr(REF_TREE, call)(*args)


@pytest.mark.parametrize("bad", [b"", b"\x00" * 31, b"\x00" * 33])
def test_leaf_hash_size_is_checked(bad: bytes) -> None:
    with pytest.raises(ValueError):
        CompactRange().append(bad)
    with pytest.raises(ValueError):
        Tree().append(bad)
    with pytest.raises(ProofError):
        verify_inclusion(0, 1, bad, [], bad)


def test_tree_exposes_leaves() -> None:
    assert REF_TREE.size == 8
    assert REF_TREE.leaf(3) == leaf_hash(LEAF_INPUTS[3])
