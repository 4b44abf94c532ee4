"""Merkle core against the external RFC 6962 / transparency-dev vectors and a naive reference tree."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ledger_reference import ReferenceTree

from registry.ledger import merkle
from registry.ledger.merkle import (
    EMPTY_ROOT,
    Frontier,
    MemoryTree,
    ProofError,
    hash_children,
    hash_leaf,
    perfect_subtrees,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

MERKLE_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "ledger" / "merkle"
INCLUSION_DIR = MERKLE_DIR / "transparency-dev-merkle" / "testdata" / "inclusion"
PROBES = sorted(INCLUSION_DIR.rglob("*.json")) if INCLUSION_DIR.is_dir() else []
MAX_PAIR_SIZE = 256


@pytest.fixture(scope="module")
def reference_vectors(shared_data: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(
        (shared_data / "ledger/merkle/reference_tree_rfc6962.json").read_text()
    )
    return data


def _leaves(reference_vectors: dict[str, object]) -> list[bytes]:
    return [bytes.fromhex(h) for h in reference_vectors["leaf_inputs_hex"]]  # type: ignore[attr-defined]


def test_hasher_vectors(reference_vectors: dict[str, object]) -> None:
    vectors = reference_vectors["hasher_vectors"]
    assert isinstance(vectors, list)
    assert EMPTY_ROOT.hex() == vectors[0]["want"]
    assert hash_leaf(b"").hex() == vectors[1]["want"]
    assert hash_leaf(b"L123456").hex() == vectors[2]["want"]
    assert hash_children(b"N123", b"N456").hex() == vectors[3]["want"]


def test_reference_tree_roots_for_every_size(reference_vectors: dict[str, object]) -> None:
    leaves = _leaves(reference_vectors)
    roots = reference_vectors["root_hashes_by_tree_size_hex"]
    assert isinstance(roots, list) and len(roots) == len(leaves) + 1
    tree = MemoryTree()
    assert tree.root().hex() == roots[0]
    for size, leaf in enumerate(leaves, start=1):
        tree.append(hash_leaf(leaf))
        assert tree.root().hex() == roots[size], f"root at size {size}"
        assert root_from_leaf_hashes(hash_leaf(x) for x in leaves[:size]).hex() == roots[size]
    for size in range(len(leaves) + 1):
        assert tree.root(size).hex() == roots[size], f"root recomputed from stored nodes at size {size}"


def test_reference_tree_node_hashes_by_level(reference_vectors: dict[str, object]) -> None:
    tree = MemoryTree(hash_leaf(x) for x in _leaves(reference_vectors))
    levels = reference_vectors["node_hashes_by_level_hex"]
    assert isinstance(levels, list)
    for level, hashes in enumerate(levels):
        ids = [(level, index) for index in range(len(hashes))]
        nodes = tree.get_nodes(ids)
        assert [nodes[i].hex() for i in ids] == hashes


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


@pytest.mark.skipif(not PROBES, reason="transparency-dev inclusion probes not found under ../shared/data")
@pytest.mark.parametrize("probe", PROBES, ids=lambda p: str(p.relative_to(INCLUSION_DIR)))
def test_transparency_dev_inclusion_probe(probe: Path) -> None:
    data = json.loads(probe.read_text())
    proof = [_b64(p) for p in data["proof"] or []]
    args = (data["leafIdx"], data["treeSize"], _b64(data["leafHash"]), proof, _b64(data["root"]))
    if data["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


def test_inclusion_probe_count(shared_data: Path) -> None:
    assert len(PROBES) == 98, "every transparency-dev inclusion probe is exercised"


@pytest.fixture(scope="module")
def pair_trees() -> tuple[ReferenceTree, MemoryTree]:
    leaves = [f"leaf {i}".encode() for i in range(MAX_PAIR_SIZE)]
    return ReferenceTree(leaves), MemoryTree(hash_leaf(x) for x in leaves)


def test_inclusion_proofs_match_reference_for_all_pairs(pair_trees: tuple[ReferenceTree, MemoryTree]) -> None:
    reference, tree = pair_trees
    for size in range(1, MAX_PAIR_SIZE + 1):
        root = reference.root(size)
        for index in range(size):
            proof = merkle.inclusion_proof(tree, index, size)
            assert proof == reference.inclusion(index, size), (index, size)
            verify_inclusion(index, size, reference.leaf_hash(index), proof, root)


def test_consistency_proofs_match_reference_for_all_pairs(
    pair_trees: tuple[ReferenceTree, MemoryTree],
) -> None:
    reference, tree = pair_trees
    for size2 in range(1, MAX_PAIR_SIZE + 1):
        root2 = reference.root(size2)
        for size1 in range(1, size2 + 1):
            proof = merkle.consistency_proof(tree, size1, size2)
            assert proof == reference.consistency(size1, size2), (size1, size2)
            verify_consistency(size1, size2, reference.root(size1), root2, proof)


def test_rfc_example_consistency_proof_shape(pair_trees: tuple[ReferenceTree, MemoryTree]) -> None:
    # RFC 9162 section 2.1.5: from the 3-leaf to the 7-leaf tree the proof is [c, d, g, l].
    _, tree = pair_trees
    c = tree.get_nodes([(0, 2)])[(0, 2)]
    d = tree.get_nodes([(0, 3)])[(0, 3)]
    g = tree.get_nodes([(1, 0)])[(1, 0)]
    l_ = merkle.hash_ranges(tree, [(4, 7)])[0]
    assert merkle.consistency_proof(tree, 3, 7) == [c, d, g, l_]


pairs = st.integers(1, MAX_PAIR_SIZE).flatmap(lambda n: st.tuples(st.integers(1, n), st.just(n)))


@settings(max_examples=300, deadline=None)
@given(pair=pairs, data=st.data())
def test_tampered_consistency_proofs_are_rejected(
    pair_trees: tuple[ReferenceTree, MemoryTree], pair: tuple[int, int], data: st.DataObject
) -> None:
    reference, tree = pair_trees
    size1, size2 = pair
    root1, root2 = reference.root(size1), reference.root(size2)
    proof = merkle.consistency_proof(tree, size1, size2)
    verify_consistency(size1, size2, root1, root2, proof)
    mutation = data.draw(st.sampled_from(["flip", "drop", "extra", "size1", "size2", "root1", "root2"]))
    new1, new2, new_root1, new_root2, path = size1, size2, root1, root2, list(proof)
    if mutation == "flip" and proof:
        position = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        node = bytearray(proof[position])
        node[bit // 8] ^= 1 << (bit % 8)
        path[position] = bytes(node)
    elif mutation == "drop" and proof:
        path.pop(data.draw(st.integers(0, len(proof) - 1)))
    elif mutation == "extra":
        path.insert(data.draw(st.integers(0, len(proof))), reference.leaf_hash(0))
    elif mutation == "size1" and size1 > 1:
        # Roots are bound to sizes by signed checkpoints, so a size swap comes with that size's true root.
        new1 = data.draw(st.integers(1, size2).filter(lambda s: s != size1))
        new_root1 = reference.root(new1)
    elif mutation == "size2" and size2 < MAX_PAIR_SIZE:
        new2 = data.draw(st.integers(size1, MAX_PAIR_SIZE).filter(lambda s: s != size2))
        new_root2 = reference.root(new2)
    elif mutation == "root1":
        new_root1 = hash_leaf(b"not the old root")
    elif mutation == "root2":
        new_root2 = hash_leaf(b"not the new root")
    else:
        return
    if mutation in {"size1", "size2"} and reference.consistency(new1, new2) == proof:
        return  # the same path genuinely proves the other pair
    with pytest.raises(ProofError):
        verify_consistency(new1, new2, new_root1, new_root2, path)


def test_consistency_edge_cases() -> None:
    root = hash_leaf(b"x")
    with pytest.raises(ProofError, match="size1 must be > 0"):
        verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    with pytest.raises(ProofError, match="smaller"):
        verify_consistency(2, 1, root, root, [])
    verify_consistency(1, 1, root, root, [])
    with pytest.raises(ProofError, match="empty proof"):
        verify_consistency(1, 1, root, root, [root])
    with pytest.raises(ProofError, match="roots differ"):
        verify_consistency(1, 1, root, EMPTY_ROOT, [])
    with pytest.raises(ProofError, match="32-byte"):
        verify_consistency(1, 2, root[:31], root, [root])


def test_inclusion_rejects_short_leaf_hash() -> None:
    with pytest.raises(ProofError, match="leaf hash"):
        verify_inclusion(0, 1, b"", [], hash_leaf(b""))


@settings(max_examples=200, deadline=None)
@given(begin_level=st.integers(0, 12), offset=st.integers(0, 50), width=st.integers(1, 4096))
def test_perfect_subtrees_cover_the_range(begin_level: int, offset: int, width: int) -> None:
    span = 1 << (width - 1).bit_length()
    begin = offset * max(span, 1 << begin_level)
    parts = perfect_subtrees(begin, begin + width)
    position = begin
    for level, index in parts:
        assert index << level == position
        position += 1 << level
    assert position == begin + width
    assert [level for level, _ in parts] == sorted((level for level, _ in parts), reverse=True)


def test_perfect_subtrees_rejects_unaligned_range() -> None:
    with pytest.raises(ValueError, match="not a node"):
        perfect_subtrees(1, 4)


@settings(max_examples=100, deadline=None)
@given(size=st.integers(0, 600))
def test_frontier_round_trip(size: int) -> None:
    leaves = [hash_leaf(i.to_bytes(4, "big")) for i in range(size)]
    tree = MemoryTree(leaves)
    ids = Frontier.node_ids(size)
    frontier = Frontier(size, [tree.get_nodes(ids)[n] for n in ids])
    assert (
        frontier.root()
        == tree.root()
        == ReferenceTree([i.to_bytes(4, "big") for i in range(size)]).root(size)
    )
    extra = hash_leaf(b"next")
    frontier.append(extra)
    tree.append(extra)
    assert frontier.root() == tree.root()
