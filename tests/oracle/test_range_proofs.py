"""Range proofs without a chain: a contiguous run of an epoch's leaves proven with at most two hashes per tree
layer (``MerkleTree.range_proof``), checked by the verifier twin of ``MeteringOracle.verifyReportRange``
(``range_root`` / ``verify_range_proof``) over every tree size the keeper meets in practice."""

from __future__ import annotations

import math

import pytest
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oracle.eip712 import build_merkle_tree, range_proof_length, range_root
from oracle.errors import MerkleError
from oracle.models import Report
from oracle.roots import build_epoch_tree, verify_proof, verify_range_proof


def leaves(size: int) -> list[bytes]:
    """``size`` distinct 32-byte leaves."""
    return [keccak(i.to_bytes(32, "big")) for i in range(size)]


def report(asset_id: int, epoch: int = 5) -> Report:
    return Report(asset_id=asset_id, epoch=epoch, gpu_seconds=100 + asset_id, curtailed_gpu_seconds=0,
                  utilization_bps=4_000, energy_wh=7)


def flipped(node: bytes) -> bytes:
    """``node`` with its last bit flipped."""
    return node[:-1] + bytes([node[-1] ^ 1])


def test_range_proof_of_every_range_of_small_trees_gives_the_root() -> None:
    for size in range(1, 34):
        tree = build_merkle_tree(leaves(size))
        for first in range(size):
            for count in range(1, size - first + 1):
                proof = tree.range_proof(first, count)
                assert len(proof) == range_proof_length(first, count, size)
                assert range_root(tree.leaves[first : first + count], first, size, proof) == tree.root


def test_range_proof_holds_at_most_two_hashes_per_layer_and_none_for_the_whole_tree() -> None:
    for size in (1, 2, 3, 7, 8, 9, 100, 1_000):
        tree = build_merkle_tree(leaves(size))
        depth = len(tree.layers) - 1
        assert depth == math.ceil(math.log2(size)) if size > 1 else depth == 0
        assert tree.range_proof(0, size) == []
        for first, count in ((0, 1), (size // 3, max(1, size // 3)), (size - 1, 1)):
            assert len(tree.range_proof(first, count)) <= 2 * depth


def test_range_proof_of_one_leaf_is_its_merkle_proof() -> None:
    for size in range(1, 40):
        tree = build_merkle_tree(leaves(size))
        for index in range(size):
            assert tree.range_proof(index, 1) == tree.proof(index)


def test_range_proof_rejects_an_empty_or_out_of_range_run() -> None:
    tree = build_merkle_tree(leaves(5))
    for first, count in ((0, 0), (-1, 2), (4, 2), (5, 1), (0, 6)):
        with pytest.raises(MerkleError, match="not a non-empty range"):
            tree.range_proof(first, count)


def test_range_root_rejects_a_proof_of_the_wrong_length() -> None:
    tree = build_merkle_tree(leaves(10))
    proof = tree.range_proof(3, 4)
    assert len(proof) == 4
    with pytest.raises(MerkleError, match="holds 4 hashes, not 3"):
        range_root(tree.leaves[3:7], 3, 10, proof[:-1])
    with pytest.raises(MerkleError, match="holds 4 hashes, not 5"):
        range_root(tree.leaves[3:7], 3, 10, [*proof, proof[0]])


def test_range_proof_consumes_left_then_right_sibling_per_layer() -> None:
    # 10 leaves, layers of 10, 5, 3, 2, 1; the run [3, 7) sits at [3, 6], [1, 3], [0, 1], [0, 0]: both
    # siblings at layer 0, the left one at layer 1, none at layer 2, the right one at layer 3.
    tree = build_merkle_tree(leaves(10))
    assert tree.range_proof(3, 4) == [tree.layers[0][2], tree.layers[0][7], tree.layers[1][0], tree.layers[3][1]]
    # The last of 5 leaves is promoted at layers 0 and 1 (odd sizes) and paired from the left at layer 2.
    five = build_merkle_tree(leaves(5))
    assert five.range_proof(4, 1) == [five.layers[2][0]]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), size=st.integers(min_value=1, max_value=300))
def test_range_proof_verifies_for_any_range_of_any_tree_and_fails_when_tampered(data: st.DataObject,
                                                                                 size: int) -> None:
    tree = build_merkle_tree(leaves(size))
    first = data.draw(st.integers(min_value=0, max_value=size - 1), label="first")
    count = data.draw(st.integers(min_value=1, max_value=size - first), label="count")
    run = list(tree.leaves[first : first + count])
    proof = tree.range_proof(first, count)

    assert range_root(run, first, size, proof) == tree.root
    if proof:
        at = data.draw(st.integers(min_value=0, max_value=len(proof) - 1), label="tampered hash")
        bad = [*proof]
        bad[at] = flipped(bad[at])
        assert range_root(run, first, size, bad) != tree.root
    at = data.draw(st.integers(min_value=0, max_value=count - 1), label="tampered leaf")
    run[at] = flipped(run[at])
    assert range_root(run, first, size, proof) != tree.root


def test_verify_range_proof_checks_an_epoch_trees_reports() -> None:
    tree = build_epoch_tree([report(a) for a in (9, 2, 30, 4, 17, 11, 6)])  # leaf order 2, 4, 6, 9, 11, 17, 30
    run = list(tree.reports[2:6])
    proof = tree.range_proof(2, 4)

    assert verify_range_proof(proof, tree.root, run, 2, tree.count)
    assert all(verify_proof(tree.proof(r.asset_id, r.epoch), tree.root, r) for r in run)
    assert not verify_range_proof(proof, tree.root, run[:-1], 2, tree.count)  # short run: wrong proof length
    assert not verify_range_proof(proof, tree.root, [*run[:-1], report(99)], 2, tree.count)
    assert not verify_range_proof(tree.range_proof(1, 4), tree.root, run, 2, tree.count)  # another run's proof
    assert not verify_range_proof(proof, tree.root, [], 2, tree.count)
