"""RFC 9162 Merkle tree hashing, inclusion and consistency proofs (pure, no I/O).

Hashing is RFC 9162 section 2.1.1: ``leaf = SHA-256(0x00 || entry)``,
``node = SHA-256(0x01 || left || right)``, and the root of a tree with ``n`` leaves splits at the largest
power of two smaller than ``n``.

Proofs are generated from *perfect subtrees*: a node ``(level, index)`` is the hash of the ``2**level`` leaves
``[index * 2**level, (index + 1) * 2**level)``. Such a node never changes once its last leaf is appended, so a
store can persist it once and serve any proof for any tree size with ``O(log n)`` lookups instead of rehashing
leaves. Every subtree of the RFC tree (also the right edge of a tree that is not a power of two) is a right
fold of at most ``log2(n)`` perfect subtrees, which :func:`perfect_subtrees` lists.

Verification follows RFC 9162 sections 2.1.3.2 and 2.1.4.2 with the conventions of the transparency-dev
verifier: every hash must be 32 bytes, ``size1 == 0`` is always an error, equal sizes need an empty proof and
equal roots.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeId = tuple[int, int]
"""A perfect subtree ``(level, index)`` covering leaves ``[index << level, (index + 1) << level)``."""

Range = tuple[int, int]
"""A half-open leaf range ``[begin, end)`` that is a node of the RFC tree."""


class ProofError(ValueError):
    """A Merkle proof is malformed or does not verify; the message says which check failed."""


class NodeSource(Protocol):
    """Where proof generation reads perfect-subtree hashes from (a database table, memory)."""

    def get_nodes(self, ids: Collection[NodeId]) -> Mapping[NodeId, bytes]:
        """Return the hash of every requested node; missing nodes may be left out (an error upstream)."""
        ...


def hash_leaf(data: bytes) -> bytes:
    """RFC 9162 leaf hash ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n >= 2``): where MTH splits ``n`` leaves."""
    if n < 2:
        raise ValueError(f"split_point: expected n >= 2, got {n}")
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaf_hashes(leaf_hashes: Iterable[bytes]) -> bytes:
    """The Merkle tree hash of a sequence of leaf hashes, in ``O(log n)`` memory."""
    frontier = Frontier()
    for leaf in leaf_hashes:
        frontier.append(leaf)
    return frontier.root()


def perfect_subtrees(begin: int, end: int) -> list[NodeId]:
    """Decompose the RFC tree node ``[begin, end)`` into perfect subtrees, left to right, largest first.

    ``begin`` must be aligned to the smallest power of two ``>= end - begin`` (true for every node of the RFC
    tree, including its right edge); the node's hash is the right fold of the returned subtrees' hashes.
    """
    width = end - begin
    if width <= 0:
        raise ValueError(f"perfect_subtrees: empty range [{begin}, {end})")
    if begin & ((1 << (width - 1).bit_length()) - 1):
        raise ValueError(f"perfect_subtrees: [{begin}, {end}) is not a node of the RFC tree")
    ids: list[NodeId] = []
    position = begin
    for level in range(width.bit_length() - 1, -1, -1):
        if width >> level & 1:
            ids.append((level, position >> level))
            position += 1 << level
    return ids


def fold_subtrees(hashes: Sequence[bytes]) -> bytes:
    """Combine the hashes of :func:`perfect_subtrees` (left to right) into the node hash (right fold)."""
    if not hashes:
        raise ValueError("fold_subtrees: no subtree hashes")
    acc = hashes[-1]
    for left in reversed(hashes[:-1]):
        acc = hash_children(left, acc)
    return acc


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The tree nodes whose hashes form the inclusion proof of leaf ``index`` in a tree of ``size``.

    RFC 9162 section 2.1.3.1 ``PATH(m, D[n])``, ordered from the leaf's sibling up to the root's child.
    """
    if not 0 <= index < size:
        raise ValueError(f"inclusion proof: expected 0 <= index < size, got index={index}, size={size}")
    ranges: list[Range] = []
    begin, end = 0, size
    while end - begin > 1:
        mid = begin + split_point(end - begin)
        if index < mid:
            ranges.append((mid, end))
            end = mid
        else:
            ranges.append((begin, mid))
            begin = mid
    ranges.reverse()
    return ranges


def consistency_ranges(size1: int, size2: int) -> list[Range]:
    """The tree nodes whose hashes form the consistency proof from ``size1`` to ``size2``.

    RFC 9162 section 2.1.4.1 ``PROOF(m, D[n]) = SUBPROOF(m, D[n], true)``, in the RFC's output order.
    """
    if not 0 < size1 <= size2:
        raise ValueError(f"consistency proof: expected 0 < size1 <= size2, got size1={size1}, size2={size2}")
    ranges: list[Range] = []
    begin, end, m, whole_old_tree = 0, size2, size1, True
    while end - begin != m:
        mid = begin + split_point(end - begin)
        if m <= mid - begin:
            ranges.append((mid, end))
            end = mid
        else:
            ranges.append((begin, mid))
            m -= mid - begin
            begin = mid
            whole_old_tree = False
    if not whole_old_tree:
        ranges.append((begin, end))
    ranges.reverse()
    return ranges


def hash_ranges(source: NodeSource, ranges: Sequence[Range]) -> list[bytes]:
    """Hash each RFC tree node in ``ranges`` with one batched lookup of their perfect subtrees."""
    parts = [perfect_subtrees(begin, end) for begin, end in ranges]
    wanted = {node for part in parts for node in part}
    nodes = source.get_nodes(wanted)
    missing = sorted(wanted - nodes.keys())
    if missing:
        raise LookupError(f"tree nodes missing from the store (level, index): {missing[:5]}")
    return [fold_subtrees([nodes[node] for node in part]) for part in parts]


def inclusion_proof(source: NodeSource, index: int, size: int) -> list[bytes]:
    """RFC 9162 inclusion proof of leaf ``index`` in the tree of the first ``size`` leaves."""
    return hash_ranges(source, inclusion_ranges(index, size))


def consistency_proof(source: NodeSource, size1: int, size2: int) -> list[bytes]:
    """RFC 9162 consistency proof between the trees of the first ``size1`` and ``size2`` leaves."""
    return hash_ranges(source, consistency_ranges(size1, size2))


def tree_root(source: NodeSource, size: int) -> bytes:
    """The root of the tree of the first ``size`` leaves (``EMPTY_ROOT`` for 0)."""
    if size == 0:
        return EMPTY_ROOT
    return hash_ranges(source, [(0, size)])[0]


def _check_hash(name: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{name}: expected a {HASH_SIZE}-byte hash, got {len(value)} bytes")


def root_from_inclusion_proof(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]) -> bytes:
    """The root implied by an inclusion proof (RFC 9162 section 2.1.3.2, steps 1-5 without the comparison)."""
    if index < 0 or size < 0:
        raise ProofError(f"inclusion proof: negative index or size (index={index}, size={size})")
    if index >= size:
        raise ProofError(f"inclusion proof: leaf index {index} is not below tree size {size}")
    _check_hash("leaf hash", leaf_hash)
    for position, sibling in enumerate(proof):
        _check_hash(f"proof[{position}]", sibling)
    fn, sn = index, size - 1
    acc = leaf_hash
    for sibling in proof:
        if sn == 0:
            raise ProofError(
                f"inclusion proof: {len(proof)} hashes is too long for index {index}, size {size}"
            )
        if fn & 1 or fn == sn:
            acc = hash_children(sibling, acc)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            acc = hash_children(acc, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"inclusion proof: {len(proof)} hashes is too short for index {index}, size {size}")
    return acc


def verify_inclusion(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Raise :class:`ProofError` unless ``proof`` shows leaf ``index`` with ``leaf_hash`` is in the tree."""
    _check_hash("root", root)
    computed = root_from_inclusion_proof(index, size, leaf_hash, proof)
    if computed != root:
        raise ProofError(
            f"inclusion proof: computed root {computed.hex()} does not match expected root {root.hex()}"
        )


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> None:
    """Raise :class:`ProofError` unless ``proof`` shows the ``size1`` tree is a prefix of the ``size2`` tree.

    RFC 9162 section 2.1.4.2; ``size1 == 0`` is always an error, equal sizes need an empty proof.
    """
    if size1 < 0 or size2 < 0:
        raise ProofError(f"consistency proof: negative size (size1={size1}, size2={size2})")
    if size2 < size1:
        raise ProofError(f"consistency proof: size2={size2} is smaller than size1={size1}")
    if size1 == 0:
        raise ProofError("consistency proof: size1 must be > 0 (an empty tree has no consistency proof)")
    _check_hash("root1", root1)
    _check_hash("root2", root2)
    for position, node in enumerate(proof):
        _check_hash(f"proof[{position}]", node)
    if size1 == size2:
        if proof:
            raise ProofError(f"consistency proof: equal sizes need an empty proof, got {len(proof)} hashes")
        if root1 != root2:
            raise ProofError(
                f"consistency proof: equal sizes but roots differ ({root1.hex()} != {root2.hex()})"
            )
        return
    if not proof:
        raise ProofError(f"consistency proof: empty proof for sizes {size1} < {size2}")
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first = second = path[0]
    for node in path[1:]:
        if sn == 0:
            raise ProofError(f"consistency proof: {len(proof)} hashes is too long for sizes {size1}, {size2}")
        if fn & 1 or fn == sn:
            first = hash_children(node, first)
            second = hash_children(node, second)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            second = hash_children(second, node)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"consistency proof: {len(proof)} hashes is too short for sizes {size1}, {size2}")
    if first != root1:
        raise ProofError(
            f"consistency proof: computed old root {first.hex()} does not match root1 {root1.hex()}"
        )
    if second != root2:
        raise ProofError(
            f"consistency proof: computed new root {second.hex()} does not match root2 {root2.hex()}"
        )


@dataclass
class Frontier:
    """The right edge of a growing tree: hashes of the perfect subtrees that cover ``[0, size)``.

    Appending a leaf returns the perfect nodes it completes (level >= 1) so a store can persist them in the
    same transaction as the entry; the root is a fold of at most ``log2(size) + 1`` hashes.
    """

    size: int = 0
    hashes: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        expected = len(perfect_subtrees(0, self.size)) if self.size else 0
        if len(self.hashes) != expected:
            raise ValueError(
                f"Frontier: size {self.size} needs {expected} subtree hashes, got {len(self.hashes)}"
            )

    @staticmethod
    def node_ids(size: int) -> list[NodeId]:
        """The perfect subtrees whose hashes make up the frontier of a tree of ``size`` leaves."""
        return perfect_subtrees(0, size) if size else []

    def append(self, leaf_hash: bytes) -> list[tuple[NodeId, bytes]]:
        """Add one leaf; return the newly completed perfect nodes ``((level, index), hash)``, level >= 1."""
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"leaf hash: expected {HASH_SIZE} bytes, got {len(leaf_hash)}")
        created: list[tuple[NodeId, bytes]] = []
        acc = leaf_hash
        self.size += 1
        completed = self.size
        level = 0
        while not completed & 1:
            acc = hash_children(self.hashes.pop(), acc)
            level += 1
            completed >>= 1
            created.append(((level, completed - 1), acc))
        self.hashes.append(acc)
        return created

    def root(self) -> bytes:
        """The Merkle tree hash of the leaves appended so far."""
        if not self.hashes:
            return EMPTY_ROOT
        return fold_subtrees(self.hashes)

    def copy(self) -> Frontier:
        return Frontier(self.size, list(self.hashes))


class MemoryTree:
    """All perfect-subtree hashes of a tree in memory, one ``bytearray`` per level (about ``64 * n`` bytes).

    A :class:`NodeSource` for offline use (an auditor re-serving proofs from an export) and for tests.
    """

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self._frontier = Frontier()
        for leaf in leaf_hashes:
            self.append(leaf)

    @property
    def size(self) -> int:
        return self._frontier.size

    def append(self, leaf_hash: bytes) -> None:
        created = self._frontier.append(leaf_hash)
        self._levels[0] += leaf_hash
        for (level, _), node in created:
            if level == len(self._levels):
                self._levels.append(bytearray())
            self._levels[level] += node

    def root(self, size: int | None = None) -> bytes:
        return self._frontier.root() if size is None else tree_root(self, size)

    def get_nodes(self, ids: Collection[NodeId]) -> dict[NodeId, bytes]:
        found: dict[NodeId, bytes] = {}
        for level, index in ids:
            if level < len(self._levels):
                row = self._levels[level]
                start = index * HASH_SIZE
                if 0 <= start < len(row):
                    found[(level, index)] = bytes(row[start : start + HASH_SIZE])
        return found
