"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their verification.

Byte format (RFC 9162 §2.1.1, SHA-256 throughout):

* empty tree:  ``MTH({}) = SHA-256("")``
* leaf:        ``SHA-256(0x00 || leaf bytes)``
* inner node:  ``SHA-256(0x01 || left hash || right hash)``

The 0x00 / 0x01 prefixes keep a leaf from ever being passed off as an inner node
(second-preimage resistance, RFC 9162 §2.1.1). For n > 1 leaves the tree splits at the
largest power of two k < n: ``MTH(D[n]) = node(MTH(D[0:k]), MTH(D[k:n]))``.

Everything here works on leaf *hashes* (32 bytes), never on leaf data; call
``leaf_hash`` first. ``CompactRange`` folds leaves in one at a time (O(log n) state) for
a streaming verifier; ``Tree`` caches every perfect subtree so that proofs over 1e5
leaves take O(log² n) hashes each. Verification follows RFC 9162 §2.1.3.2 and §2.1.4.2
and the edge cases of transparency-dev/merkle ``proof/verify.go`` (its test vectors are
run in ``tests/audit/test_merkle.py``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof does not verify, or its inputs are malformed."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1 leaf hash: SHA-256(0x00 || data)."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1 inner node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle tree hash of the given leaf hashes (``EMPTY_ROOT`` for none)."""
    cr = CompactRange()
    for h in leaf_hashes:
        cr.append(h)
    return cr.root()


class CompactRange:
    """The right edge of a growing tree: one perfect-subtree root per set bit of size.

    Appending costs O(1) amortized hashes; ``root()`` folds the O(log n) stored
    subtrees right to left, which is exactly the RFC 6962 shape of an unbalanced tree.
    """

    def __init__(self) -> None:
        self.size = 0
        # Roots of perfect subtrees, largest (leftmost) first.
        self._stack: list[bytes] = []

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash at index ``size``."""
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"leaf hash must be {HASH_SIZE} bytes, got {len(leaf)}")
        node = leaf
        n = self.size
        # Each trailing 1 bit of the old size is a perfect subtree of equal height: merge.
        while n & 1:
            node = node_hash(self._stack.pop(), node)
            n >>= 1
        self._stack.append(node)
        self.size += 1

    def root(self) -> bytes:
        """The tree hash over every leaf appended so far."""
        if not self._stack:
            return EMPTY_ROOT
        acc = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            acc = node_hash(left, acc)
        return acc


class Tree:
    """All leaves plus cached perfect subtrees, for generating proofs."""

    def __init__(self, leaf_hashes: Sequence[bytes] = ()) -> None:
        # levels[h][i] = root of the perfect subtree over leaves [i*2^h, (i+1)*2^h).
        self._levels: list[list[bytes]] = [[]]
        for h in leaf_hashes:
            self.append(h)

    @property
    def size(self) -> int:
        """Number of leaves."""
        return len(self._levels[0])

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash; completes any perfect subtrees it closes."""
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"leaf hash must be {HASH_SIZE} bytes, got {len(leaf)}")
        self._levels[0].append(leaf)
        level = 0
        while len(self._levels[level]) % 2 == 0:
            below = self._levels[level]
            if level + 1 == len(self._levels):
                self._levels.append([])
            self._levels[level + 1].append(node_hash(below[-2], below[-1]))
            level += 1

    def leaf(self, index: int) -> bytes:
        """The leaf hash at ``index``."""
        return self._levels[0][index]

    def _hash(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for a range the RFC 6962 recursion can produce."""
        n = hi - lo
        if n == 0:
            return EMPTY_ROOT
        height = n.bit_length() - 1
        if n == 1 << height and lo % n == 0:
            return self._levels[height][lo >> height]
        k = _split(n)
        return node_hash(self._hash(lo, lo + k), self._hash(lo + k, hi))

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (all by default)."""
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise ValueError(f"size {size} outside 0..{self.size}")
        return self._hash(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 §2.1.3.1 PATH(index, D[0:size]), leaf-adjacent hash first."""
        size = self.size if size is None else size
        if not 0 <= index < size <= self.size:
            raise ValueError(f"need 0 <= index {index} < size {size} <= {self.size}")
        proof: list[bytes] = []
        lo, hi = 0, size
        # Walk down from the root, collecting siblings; reverse at the end.
        while hi - lo > 1:
            k = _split(hi - lo)
            if index < lo + k:
                proof.append(self._hash(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self._hash(lo, lo + k))
                lo = lo + k
        proof.reverse()
        return proof

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """RFC 9162 §2.1.4.1 PROOF(size1, D[0:size2]); requires 0 < size1 <= size2."""
        size2 = self.size if size2 is None else size2
        if not 0 < size1 <= size2 <= self.size:
            raise ValueError(f"need 0 < size1 {size1} <= size2 {size2} <= {self.size}")
        proof: list[bytes] = []
        lo, hi, m, whole = 0, size2, size1, True
        # SUBPROOF(m, D[lo:hi], whole), iteratively; siblings collected root-first.
        # m counts the old tree's leaves inside D[lo:hi].
        while m != hi - lo:
            k = _split(hi - lo)
            if m <= k:
                proof.append(self._hash(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self._hash(lo, lo + k))
                lo, m, whole = lo + k, m - k, False
        if not whole:
            proof.append(self._hash(lo, hi))
        proof.reverse()
        return proof


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2: the root implied by an inclusion proof, or ProofError."""
    if not 0 <= index < size:
        raise ProofError(f"index {index} is beyond size {size}")
    if len(leaf) != HASH_SIZE:
        raise ProofError(f"leaf hash has {len(leaf)} bytes, want {HASH_SIZE}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                # Right edge of an unbalanced tree: skip levels where we have no sibling.
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("proof is too short")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root_hash: bytes
) -> None:
    """Raise ProofError unless ``proof`` shows leaf ``index`` is in the tree ``root_hash``."""
    if root_from_inclusion_proof(index, size, leaf, proof) != root_hash:
        raise ProofError("calculated root does not match")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """RFC 9162 §2.1.4.2: raise ProofError unless tree ``root2`` extends tree ``root1``."""
    if size2 < size1:
        raise ProofError(f"size2 {size2} < size1 {size1}")
    if size1 == 0:
        # transparency-dev/merkle: a proof from the empty tree is meaningless; refuse it.
        raise ProofError("consistency proof from an empty tree is meaningless")
    if size1 == size2:
        if proof:
            raise ProofError("size1 == size2, but proof is not empty")
        if root1 != root2:
            raise ProofError("equal sizes, different roots")
        return
    if not proof:
        raise ProofError("empty proof")
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        # The old tree is a perfect subtree of the new one: its root is the seed.
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("proof is too short")
    if fr != root1:
        raise ProofError("calculated first root does not match")
    if sr != root2:
        raise ProofError("calculated second root does not match")
