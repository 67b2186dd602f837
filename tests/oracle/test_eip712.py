"""EIP-712 digests and the Merkle commitment: the fast keccak encoding equals eth-account's typed-data
encoding, golden values pin the encoding for the contract's differential tests, and Merkle proofs verify
under a Python mirror of OpenZeppelin's ``MerkleProof.processProof``."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from eth_account.messages import _hash_eip191_message, encode_typed_data
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from oracle.eip712 import (
    REPORT_BATCH_TYPEHASH,
    REPORT_ROOT_TYPEHASH,
    REPORT_TYPEHASH,
    Eip712Domain,
    batch_digest,
    batch_typed_data,
    build_merkle_tree,
    build_report_tree,
    report_struct_hash,
    report_typed_data,
    root_digest,
    root_typed_data,
)
from oracle.errors import Eip712Error, MerkleError
from oracle.models import UINT32_MAX, UINT64_MAX, UINT256_MAX, Report

ANVIL_ORACLE = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
DOMAIN = Eip712Domain(chain_id=31337, verifying_contract=ANVIL_ORACLE)
SAMPLE_EPOCH_0 = [
    Report(asset_id=1, epoch=0, gpu_seconds=27480, curtailed_gpu_seconds=0, utilization_bps=8435, energy_wh=4687),
    Report(asset_id=2, epoch=0, gpu_seconds=14400, curtailed_gpu_seconds=0, utilization_bps=8527, energy_wh=1182),
]


def eth_account_digest(message: dict) -> bytes:
    return bytes(_hash_eip191_message(encode_typed_data(full_message=message)))


@st.composite
def reports(draw: st.DrawFn) -> Report:
    gpu_seconds = draw(st.one_of(st.just(0), st.integers(1, UINT64_MAX)))
    return Report(
        asset_id=draw(st.one_of(st.integers(0, 1000), st.integers(0, UINT256_MAX))),
        epoch=draw(st.integers(0, UINT64_MAX)),
        gpu_seconds=gpu_seconds,
        curtailed_gpu_seconds=draw(st.integers(0, UINT64_MAX)),
        utilization_bps=draw(st.integers(0, 10_000)) if gpu_seconds else 0,
        energy_wh=draw(st.integers(0, UINT64_MAX)),
    )


domains = st.builds(
    Eip712Domain,
    chain_id=st.integers(0, UINT256_MAX),
    verifying_contract=st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()),
)


# --- type hashes and golden values -----------------------------------------------------------------


def test_type_hashes_are_keccak_of_the_exact_type_strings() -> None:
    report = (
        "Report(uint256 assetId,uint64 epoch,uint64 gpuSeconds,uint64 curtailedGpuSeconds,"
        "uint16 utilizationBps,uint64 energyWh)"
    )
    assert REPORT_TYPEHASH == keccak(text=report)
    assert REPORT_BATCH_TYPEHASH == keccak(text="ReportBatch(uint64 configVersion,Report[] reports)" + report)
    assert REPORT_ROOT_TYPEHASH == keccak(
        text="ReportRoot(uint64 configVersion,uint64 epoch,uint32 reportCount,bytes32 root)"
    )


def test_golden_digests_for_the_sample_epoch_on_anvil() -> None:
    """Pinned values (computed with eth-account) for the contract's differential tests to compare against."""
    assert DOMAIN.separator.hex() == "58286bb1c47fbf4a343cb286c9488ff57c020d29a31a67b8429be14894697fe4"
    assert [report_struct_hash(r).hex() for r in SAMPLE_EPOCH_0] == [
        "5d37f13aaf51d913bf4897fc29506242b76ea74ade757bb892fd1237cebaa3dc",
        "25a802eca768273398341187c24685970f9b6fda2374ceedf0d4872328ea7565",
    ]
    assert batch_digest(DOMAIN, 1, SAMPLE_EPOCH_0).hex() == (
        "c30ed63d262e0111d950e34410be649704e9068accf0669da176a7ed165f49b2"
    )
    tree = build_report_tree(SAMPLE_EPOCH_0)
    assert tree.root.hex() == "3eb8109efe5e784372740e9cfd3f6e4f0f9eec7ce1bd1eae6424e963d755fe0c"
    assert root_digest(DOMAIN, 1, 0, 2, tree.root).hex() == (
        "bf67c6c198fba332451a456595a35516f11db3974c6d4076b9bc2a68ffb0b55e"
    )


# --- fast encoding == eth-account ------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(domain=domains, config_version=st.integers(0, UINT64_MAX), batch=st.lists(reports(), max_size=6))
def test_batch_digest_equals_eth_account(domain: Eip712Domain, config_version: int, batch: list[Report]) -> None:
    expected = eth_account_digest(batch_typed_data(domain, config_version, batch))
    assert batch_digest(domain, config_version, batch) == expected


def test_batch_digest_equals_eth_account_for_an_empty_and_a_single_batch() -> None:
    for batch in ([], SAMPLE_EPOCH_0[:1]):
        assert batch_digest(DOMAIN, 3, batch) == eth_account_digest(batch_typed_data(DOMAIN, 3, batch))


@settings(max_examples=100, deadline=None)
@given(domain=domains, report=reports())
def test_report_struct_hash_equals_eth_account(domain: Eip712Domain, report: Report) -> None:
    signable = encode_typed_data(full_message=report_typed_data(domain, report))
    assert report_struct_hash(report) == bytes(signable.body)
    assert domain.separator == bytes(signable.header)


@settings(max_examples=100, deadline=None)
@given(
    domain=domains,
    config_version=st.integers(0, UINT64_MAX),
    epoch=st.integers(0, UINT64_MAX),
    report_count=st.integers(0, UINT32_MAX),
    root=st.binary(min_size=32, max_size=32),
)
def test_root_digest_equals_eth_account(
    domain: Eip712Domain, config_version: int, epoch: int, report_count: int, root: bytes
) -> None:
    expected = eth_account_digest(root_typed_data(domain, config_version, epoch, report_count, root))
    assert root_digest(domain, config_version, epoch, report_count, root) == expected


def test_digest_binds_chain_contract_config_and_order() -> None:
    base = batch_digest(DOMAIN, 1, SAMPLE_EPOCH_0)
    other_chain = Eip712Domain(chain_id=1, verifying_contract=ANVIL_ORACLE)
    other_contract = Eip712Domain(chain_id=31337, verifying_contract="0x" + "11" * 20)
    assert (
        len(
            {
                base,
                batch_digest(other_chain, 1, SAMPLE_EPOCH_0),
                batch_digest(other_contract, 1, SAMPLE_EPOCH_0),
                batch_digest(DOMAIN, 2, SAMPLE_EPOCH_0),
                batch_digest(DOMAIN, 1, SAMPLE_EPOCH_0[::-1]),
            }
        )
        == 5
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"chain_id": -1, "verifying_contract": ANVIL_ORACLE}, "chain id"),
        ({"chain_id": UINT256_MAX + 1, "verifying_contract": ANVIL_ORACLE}, "chain id"),
        ({"chain_id": 1, "verifying_contract": "0x1234"}, "not an address"),
    ],
)
def test_domain_rejects_invalid_chain_or_contract(kwargs: dict, message: str) -> None:
    with pytest.raises(Eip712Error, match=message):
        Eip712Domain(**kwargs)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((UINT64_MAX + 1, 0, 1, bytes(32)), "configVersion"),
        ((1, -1, 1, bytes(32)), "epoch"),
        ((1, 0, UINT32_MAX + 1, bytes(32)), "reportCount"),
        ((1, 0, 1, bytes(31)), "root must be 32 bytes"),
    ],
)
def test_root_digest_rejects_out_of_range_fields(args: tuple, message: str) -> None:
    with pytest.raises(Eip712Error, match=message):
        root_digest(DOMAIN, *args)


def test_batch_digest_rejects_out_of_range_config_version() -> None:
    with pytest.raises(Eip712Error, match="configVersion"):
        batch_digest(DOMAIN, UINT64_MAX + 1, SAMPLE_EPOCH_0)


# --- Merkle commitment -----------------------------------------------------------------------------


def oz_process_proof(proof: Sequence[bytes], leaf: bytes) -> bytes:
    """OpenZeppelin MerkleProof.processProof: fold the proof with the commutative (sorted-pair) keccak."""
    computed = leaf
    for node in proof:
        computed = keccak(computed + node) if computed < node else keccak(node + computed)
    return computed


@settings(max_examples=60, deadline=None)
@given(leaves=st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=40, unique=True))
def test_every_merkle_proof_verifies_under_openzeppelin_rules(leaves: list[bytes]) -> None:
    tree = build_merkle_tree(leaves)
    for i, leaf in enumerate(leaves):
        assert oz_process_proof(tree.proof(i), leaf) == tree.root
    assert len(tree.proofs()) == len(leaves)


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17])
def test_report_tree_proofs_verify_for_each_size(count: int) -> None:
    batch = [
        Report(asset_id=i + 1, epoch=5, gpu_seconds=3600, curtailed_gpu_seconds=0, utilization_bps=9000, energy_wh=700)
        for i in range(count)
    ]
    tree = build_report_tree(batch)
    for i, report in enumerate(batch):
        proof = tree.proof(i)
        assert oz_process_proof(proof, report_struct_hash(report)) == tree.root
        assert len(proof) <= max(1, (count - 1).bit_length())


def test_merkle_root_of_one_leaf_is_the_leaf_and_of_two_is_their_sorted_hash() -> None:
    a, b = keccak(b"a"), keccak(b"b")
    assert build_merkle_tree([a]).root == a
    assert build_merkle_tree([a]).proof(0) == []
    assert build_merkle_tree([a, b]).root == build_merkle_tree([b, a]).root == keccak(min(a, b) + max(a, b))


def test_tampered_report_or_proof_does_not_verify() -> None:
    tree = build_report_tree([*SAMPLE_EPOCH_0, SAMPLE_EPOCH_0[0].model_copy(update={"asset_id": 3})])
    forged = SAMPLE_EPOCH_0[0].model_copy(update={"gpu_seconds": 28_800})
    assert oz_process_proof(tree.proof(0), report_struct_hash(forged)) != tree.root
    assert oz_process_proof(tree.proof(1), report_struct_hash(SAMPLE_EPOCH_0[0])) != tree.root


@pytest.mark.parametrize(
    ("leaves", "message"),
    [
        ([], "at least one leaf"),
        ([b"\x00" * 31], "not 32 bytes"),
        ([b"\x01" * 32, b"\x01" * 32], "repeated"),
    ],
)
def test_invalid_merkle_leaves_raise_merkle_error(leaves: list[bytes], message: str) -> None:
    with pytest.raises(MerkleError, match=message):
        build_merkle_tree(leaves)


def test_proof_of_missing_leaf_raises_merkle_error() -> None:
    with pytest.raises(MerkleError, match="out of range"):
        build_merkle_tree([keccak(b"a")]).proof(1)
